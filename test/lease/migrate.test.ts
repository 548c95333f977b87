/** The migration runner against the real Postgres: concurrency, atomicity, newer databases, timeouts. */
import net from 'node:net';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClient, migrate, toDbPort } from '../../src/index.js';
import { DATABASE_URL, uniqueName } from '../helpers/env.js';

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 20 });
const schemas: string[] = [];
const fresh = () => {
  const s = uniqueName('migrate');
  schemas.push(s);
  return s;
};
const exists = async (name: string) =>
  (await pool.query('SELECT to_regclass($1) AS t', [name])).rows[0].t !== null;

beforeAll(() => {
  pool.on('error', () => {});
});
afterAll(async () => {
  for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await pool.end();
});

describe('migrate', () => {
  it('lets many processes start at once: each migration is applied exactly once', async () => {
    const schema = fresh();
    const port = toDbPort(pool);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => migrate(port, { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 })),
    );
    expect(results.flat()).toEqual(['0000_init', '0001_fillfactor']);
    const { rows } = await pool.query(`SELECT tag FROM "${schema}".db_leases_migrations ORDER BY id`);
    expect(rows.map((r) => r.tag)).toEqual(['0000_init', '0001_fillfactor']);
    expect(await exists(`"${schema}".db_leases_partitions`)).toBe(true);
    const ff = await pool.query(
      `SELECT reloptions FROM pg_class WHERE oid = '"${schema}".db_leases_clients'::regclass`,
    );
    expect(ff.rows[0].reloptions).toEqual(['fillfactor=70']);
  });

  it('uses the chosen schema and table prefix for every table, constraint and index', async () => {
    const schema = fresh();
    await migrate(toDbPort(pool), { schema, tablePrefix: 'jobs_lease', timeoutMs: 5000 });
    const { rows } = await pool.query(
      `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = $1 ORDER BY 1`,
      [schema],
    );
    const names = rows.map((r) => r.relname as string);
    expect(names.length).toBeGreaterThan(8);
    expect(names.every((n) => n.startsWith('jobs_lease_'))).toBe(true);
  });

  it('rolls everything back when a migration fails: no half-applied schema', async () => {
    const schema = fresh();
    await pool.query(`CREATE SCHEMA "${schema}"`);
    // A table in the way makes the third CREATE TABLE fail.
    await pool.query(`CREATE TABLE "${schema}".db_leases_leases (x int)`);
    await expect(createClient(pool, 'm1', { schema, migrationTimeout: 5000 })).rejects.toMatchObject({
      code: 'MIGRATION_FAILED',
      message: expect.stringMatching(/rolled back/),
    });
    for (const t of ['clients', 'history', 'members', 'partitions', 'migrations']) {
      expect(await exists(`"${schema}".db_leases_${t}`)).toBe(false);
    }
  });

  it('refuses a database migrated by a newer release', async () => {
    const schema = fresh();
    await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 5000 });
    await pool.query(
      `INSERT INTO "${schema}".db_leases_migrations (id, tag, hash) VALUES (99, '0099_future', 'x')`,
    );
    await expect(createClient(pool, 'm2', { schema })).rejects.toMatchObject({
      code: 'MIGRATION_NEWER_THAN_CODE',
      message: expect.stringMatching(/0099_future.*newer release/),
    });
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".db_leases_clients`)).rows[0].n).toBe(
      0,
    );
  });

  it('fails within migrationTimeout when Postgres accepts connections but never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket)); // accepts, then says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const dead = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    dead.on('error', () => {});
    const t0 = performance.now();
    try {
      await expect(createClient(dead, 'm3', { migrationTimeout: 500 })).rejects.toMatchObject({
        code: 'DATABASE_UNREACHABLE',
        message: expect.stringMatching(/within migrationTimeout \(500 ms\).*docker compose up -d/),
      });
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('says so clearly when nothing listens on the port', async () => {
    const dead = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres' });
    dead.on('error', () => {});
    await expect(createClient(dead, 'm4', { migrationTimeout: 2000 })).rejects.toMatchObject({
      code: 'DATABASE_UNREACHABLE',
      message: expect.stringMatching(/ECONNREFUSED.*docker compose up -d/),
    });
    await dead.end();
  });
});
