/**
 * A small migration runner for the drizzle-kit generated SQL in `drizzle/`.
 *
 * drizzle-orm's own `migrate()` takes no lock and bakes schema and table names into the SQL, while
 * dbleases lets users choose both at run time. So: one pinned connection, one transaction, a
 * transaction-scoped advisory lock keyed on schema + prefix (many processes starting at once queue up
 * instead of racing), placeholders replaced by validated identifiers, our own migrations table, all of
 * it bounded by `timeoutMs`. A failure rolls back everything: no half-applied migration.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { DbleasesError } from '../errors.js';
import { MAX_PREFIX_LENGTH, validateIdentifier } from '../options.js';
import { type DbPort, quoteIdent } from './db.js';
import { PLACEHOLDER_PREFIX, PLACEHOLDER_SCHEMA } from './schema.js';
import { withTimeout } from './timeout.js';

export interface MigrateOptions {
  schema: string;
  tablePrefix: string;
  /** Bound on waiting for a connection, the lock and the statements, in ms. */
  timeoutMs: number;
}

export interface Migration {
  id: number;
  tag: string;
  hash: string;
  statements: string[];
}

const DRIZZLE_DIR = new URL('../../drizzle/', import.meta.url);

/** Reads `drizzle/meta/_journal.json` and the SQL files it lists, in order. */
export function loadMigrations(): Migration[] {
  const journal = JSON.parse(
    readFileSync(fileURLToPath(new URL('meta/_journal.json', DRIZZLE_DIR)), 'utf8'),
  ) as {
    entries: { idx: number; tag: string }[];
  };
  return journal.entries.map((entry) => {
    const text = readFileSync(fileURLToPath(new URL(`${entry.tag}.sql`, DRIZZLE_DIR)), 'utf8');
    return {
      id: entry.idx,
      tag: entry.tag,
      hash: createHash('sha256').update(text).digest('hex'),
      statements: text
        .split('--> statement-breakpoint')
        .map((s) => s.trim())
        .filter((s) => s.replace(/^--.*$/gm, '').trim().length > 0),
    };
  });
}

/** Replaces the placeholder schema and prefix of generated SQL with the user's validated names. */
export function substitute(statement: string, schema: string, tablePrefix: string): string {
  return statement
    .replaceAll(`"${PLACEHOLDER_SCHEMA}"`, quoteIdent(schema))
    .replace(new RegExp(`"${PLACEHOLDER_PREFIX}([a-z0-9_]+)"`, 'g'), (_m, rest: string) =>
      quoteIdent(`${tablePrefix}_${rest}`),
    );
}

/** Applies pending migrations; resolves to the tags applied now. */
export async function migrate(port: DbPort, options: MigrateOptions): Promise<string[]> {
  const schema = validateIdentifier('schema', options.schema, 63);
  const prefix = validateIdentifier('tablePrefix', options.tablePrefix, MAX_PREFIX_LENGTH);
  const migrations = loadMigrations();
  const table = `${quoteIdent(schema)}.${quoteIdent(`${prefix}_migrations`)}`;
  const ms = options.timeoutMs;

  let timedOut = false;
  const run = port.transaction(async (tx) => {
    // A connection that arrives after the timeout must not migrate behind the caller's back.
    if (timedOut) throw new Error('timed out before a connection was available');
    if (port.kind === 'pg') {
      await tx.query(`SET LOCAL lock_timeout = ${Math.trunc(ms)}`);
      await tx.query(`SET LOCAL statement_timeout = ${Math.trunc(ms)}`);
    }
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`dbleases:${schema}.${prefix}`]);
    // CREATE SCHEMA IF NOT EXISTS checks the privilege before existence: look first.
    const ns = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (ns.rows.length === 0) await tx.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
    const reg = await tx.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
      `${quoteIdent(schema)}.${quoteIdent(`${prefix}_migrations`)}`,
    ]);
    if (reg.rows[0]?.t == null) {
      await tx.query(
        `CREATE TABLE ${table} (id integer PRIMARY KEY, tag text NOT NULL, hash text NOT NULL, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
      );
    }
    const applied = await tx.query<{ id: number; tag: string }>(`SELECT id, tag FROM ${table} ORDER BY id`);
    const known = new Set(migrations.map((m) => m.id));
    const unknown = applied.rows.filter((r) => !known.has(r.id));
    if (unknown.length > 0) {
      throw new DbleasesError(
        'MIGRATION_NEWER_THAN_CODE',
        `The database schema ${schema} (prefix ${prefix}) has migrations this version of dbleases does not know ` +
          `(${unknown.map((r) => r.tag).join(', ')}): it was migrated by a newer release. Upgrade dbleases, or use another schema or tablePrefix.`,
      );
    }
    const done = new Set(applied.rows.map((r) => r.id));
    const now: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      for (const statement of m.statements) await tx.query(substitute(statement, schema, prefix));
      await tx.query(`INSERT INTO ${table} (id, tag, hash) VALUES ($1, $2, $3)`, [m.id, m.tag, m.hash]);
      now.push(m.tag);
    }
    return now;
  });

  try {
    return await withTimeout(run, ms, () => {
      timedOut = true;
      return new DbleasesError(
        'DATABASE_UNREACHABLE',
        `Could not connect and migrate within migrationTimeout (${ms} ms): is Postgres running and reachable? (try \`docker compose up -d\`)`,
      );
    });
  } catch (error) {
    if (error instanceof DbleasesError) throw error;
    const code = (error as { code?: string }).code;
    if (
      code === 'ECONNREFUSED' ||
      code === 'ENOTFOUND' ||
      code === 'EAI_AGAIN' ||
      code === 'ETIMEDOUT' ||
      code === '57P03'
    ) {
      throw new DbleasesError(
        'DATABASE_UNREACHABLE',
        `Could not connect to Postgres (${code}): is it running and reachable? (try \`docker compose up -d\`)`,
        { cause: error },
      );
    }
    throw new DbleasesError(
      'MIGRATION_FAILED',
      `Migrating schema ${schema} (prefix ${prefix}) failed and was rolled back: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
