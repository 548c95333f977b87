/** `dbleases dashboard`: serves the dashboard until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { isLoopbackHost } from '../dashboard/auth.js';
import { createDashboard } from '../dashboard/dashboard.js';
import { readSnapshot, tableNames } from '../dashboard/snapshot.js';
import { DbleasesError } from '../errors.js';
import { toDbPort } from '../lease/db.js';
import { MAX_PREFIX_LENGTH } from '../options.js';
import {
  COMMON_OPTIONS,
  databaseUrl,
  identifierFlag,
  parsing,
  redact,
  UsageError,
  withDatabase,
} from './args.js';

export const usage = `Usage: dbleases dashboard [options]

Serves the live ownership dashboard, its JSON API (/api/leases, /api/history) and /metrics.

Options:
  --port N              port (default: 3000)
  --host ADDRESS        address to bind (default: 127.0.0.1; any other address needs a token)
  --database-url URL    Postgres (default: $DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --redis-url URL       Redis of the BullMQ partition queues, for job counts (optional)
  --bull-prefix NAME    BullMQ key prefix (default: bull)
  --schema NAME         schema of the dbleases tables (default: public)
  --table-prefix NAME   table prefix (default: db_leases)
  --token TOKEN         require this token (Bearer header or the login page); also read from
                        $DBLEASES_DASHBOARD_TOKEN, which keeps it out of the process list
  -h, --help            show this help`;

export async function run(argv: string[]): Promise<number> {
  const options = {
    ...COMMON_OPTIONS,
    port: { type: 'string' },
    host: { type: 'string' },
    'redis-url': { type: 'string' },
    'bull-prefix': { type: 'string' },
    token: { type: 'string' },
  } as const;
  const { values } = parsing(() => parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const port = Number(values.port ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(
      `Expected --port to be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`,
    );
  const host = values.host ?? '127.0.0.1';
  const token = values.token ?? (process.env.DBLEASES_DASHBOARD_TOKEN || undefined);
  if (!token && !isLoopbackHost(host)) {
    throw new UsageError(
      `--host ${host} is not a loopback address: pass --token (or set DBLEASES_DASHBOARD_TOKEN) so the dashboard is not open to the network`,
    );
  }
  if (token !== undefined && token.length < 8) {
    // Not echoed: it is a secret, even when too short.
    throw new UsageError(
      `Expected --token (or DBLEASES_DASHBOARD_TOKEN) to be at least 8 characters, got ${token.length}`,
    );
  }
  const schema = identifierFlag('--schema', values.schema ?? 'public', 63);
  const tablePrefix = identifierFlag(
    '--table-prefix',
    values['table-prefix'] ?? 'db_leases',
    MAX_PREFIX_LENGTH,
  );
  const url = databaseUrl(values['database-url']);
  let connection:
    | { host: string; port: number; username?: string; password?: string; db?: number; tls?: object }
    | undefined;
  if (values['redis-url'] !== undefined) {
    let u: URL;
    try {
      u = new URL(values['redis-url']);
    } catch {
      throw new UsageError(
        `Expected --redis-url to be a URL like redis://127.0.0.1:6379, got ${JSON.stringify(values['redis-url'])}`,
      );
    }
    connection = {
      host: u.hostname || '127.0.0.1',
      port: Number(u.port || 6379),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    };
  }

  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {}); // a dropped idle connection: the next poll reconnects and the page says so
  let dashboard: ReturnType<typeof createDashboard> | undefined;
  try {
    // The library checks every option (no I/O yet): a bad value is a usage mistake, reported before
    // the database is touched.
    try {
      dashboard = createDashboard({
        db: pool,
        schema,
        tablePrefix,
        ...(connection ? { connection } : {}),
        ...(values['bull-prefix'] !== undefined ? { prefix: values['bull-prefix'] } : {}),
        ...(token ? { token } : {}),
      });
    } catch (error) {
      if (error instanceof DbleasesError && error.code === 'INVALID_OPTION')
        throw new UsageError(error.message);
      throw error;
    }
    // Fail fast with one clear line when the database or the tables are not there.
    await withDatabase(url, () => readSnapshot(toDbPort(pool), tableNames(schema, tablePrefix), 0));
    const where = await dashboard.listen(port, host);
    console.log(
      `dbleases dashboard on ${where.url} (${redact(url)}, schema ${schema}, prefix ${tablePrefix}${token ? ', token required' : ''})`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  } finally {
    await dashboard?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}
