/**
 * Where the demo runs: Redis at REDIS_URL, else a private `redis-server` from the PATH, else one clear
 * message; Postgres at DATABASE_URL, else embedded PGlite (then the workers run inside this process,
 * since PGlite serves one process). Also cleans the demo's own namespace: its schema and Redis prefix.
 */
import { Redis } from 'ioredis';
import pg from 'pg';

import { toDbPort } from '../../lease/db.js';
import { migrate } from '../../lease/migrate.js';
import { CliError, describeError, redact } from '../args.js';
import { startHint } from '../install.js';
import { type PrivateRedis, startPrivateRedis, which } from './redis-server.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The smallest PGlite surface the demo needs (the library adapts the rest). */
export interface EmbeddedDb {
  query(text: string): Promise<unknown>;
  close(): Promise<void>;
}

export type Store = { kind: 'pg'; url: string; pool: pg.Pool } | { kind: 'pglite'; db: EmbeddedDb };

export interface DemoEnvironment {
  store: Store;
  redisUrl: string;
  privateRedis: PrivateRedis | undefined;
  /** One-line notes about fallbacks, printed at start. */
  notes: string[];
}

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function openRedis(
  url: string,
  notes: string[],
): Promise<{ url: string; privateRedis?: PrivateRedis }> {
  if (await redisAnswers(url)) return { url };
  const binary = which('redis-server');
  if (!binary) {
    throw new CliError(
      `No Redis answered at ${redact(url)} and there is no redis-server on the PATH: ${startHint('Redis', 'set REDIS_URL / --redis-url')}`,
    );
  }
  const privateRedis = await startPrivateRedis(binary).catch((error: unknown) => {
    throw new CliError(
      `No Redis answered at ${redact(url)} and ${binary} did not start (${describeError(error)}): ${startHint('Redis', 'set REDIS_URL / --redis-url')}`,
    );
  });
  notes.push(
    `No Redis answered at ${redact(url)}: started a private redis-server at ${privateRedis.url} (stopped at the end)`,
  );
  return { url: privateRedis.url, privateRedis };
}

async function openStore(url: string, notes: string[]): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 3_000 });
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
    return { kind: 'pg', url, pool };
  } catch (error) {
    await pool.end().catch(() => {});
    const reason = describeError(error, { databaseUrl: url });
    if (!/^Could not connect/.test(reason)) throw new CliError(reason);
  }
  let PGlite: { create(): Promise<EmbeddedDb> };
  try {
    ({ PGlite } = (await import('@electric-sql/pglite')) as unknown as { PGlite: typeof PGlite });
  } catch {
    throw new CliError(
      `No Postgres answered at ${redact(url)} and @electric-sql/pglite is not installed: ${startHint('Postgres', 'set DATABASE_URL / --database-url, or npm install @electric-sql/pglite to run on embedded PGlite')}`,
    );
  }
  notes.push(
    `No Postgres answered at ${redact(url)}: the lease store runs on embedded PGlite, with the workers inside this process (PGlite serves one process)`,
  );
  return { kind: 'pglite', db: await PGlite.create() };
}

/** Redis first (it has no embedded fallback, so a missing one fails fast), then Postgres. */
export async function openEnvironment(databaseUrl: string, redisUrl: string): Promise<DemoEnvironment> {
  const notes: string[] = [];
  const redis = await openRedis(redisUrl, notes);
  try {
    const store = await openStore(databaseUrl, notes);
    return { store, redisUrl: redis.url, privateRedis: redis.privateRedis, notes };
  } catch (error) {
    await redis.privateRedis?.stop();
    throw error;
  }
}

export function storeDb(store: Store): unknown {
  return store.kind === 'pg' ? store.pool : store.db;
}

/** Drops and recreates the demo schema with the lease tables. */
export async function resetSchema(store: Store, schema: string): Promise<void> {
  const port = toDbPort(storeDb(store));
  try {
    await port.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await migrate(port, { schema, tablePrefix: 'db_leases', timeoutMs: 20_000 });
  } catch (error) {
    throw new CliError(describeError(error, store.kind === 'pg' ? { databaseUrl: store.url } : {}));
  }
}

export async function dropSchema(store: Store, schema: string): Promise<void> {
  await toDbPort(storeDb(store))
    .query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    .catch(() => {});
}

/** Deletes every key under `prefix:` (SCAN, never KEYS); returns how many. */
export async function clearRedisPrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  redis.on('error', () => {});
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export async function closeEnvironment(env: DemoEnvironment): Promise<void> {
  if (env.store.kind === 'pg') await env.store.pool.end().catch(() => {});
  else await env.store.db.close().catch(() => {});
  await env.privateRedis?.stop();
}
