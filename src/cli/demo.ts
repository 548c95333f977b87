/**
 * `dbleases demo` (`npm run demo`): three lease clients in child processes split one lease, live, while
 * one is killed, one joins and one closes; ends with a summary and a non-zero exit if a guarantee failed.
 * It works in its own schema (dropped and recreated at start), so it never touches other data.
 */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { migrate } from '../lease/migrate.js';
import { toDbPort } from '../lease/db.js';
import { validateIdentifier } from '../options.js';
import { CliError, databaseUrl, describeError, parsing, redact, UsageError } from './args.js';
import { clock } from './demo/fleet.js';
import { Screen } from './demo/screen.js';
import { DemoScript, type ScriptOptions } from './demo/script.js';
import { summarize } from './demo/summary.js';

export const usage = `Usage: dbleases demo [options]   (npm run demo -- [options])

Starts 3 lease clients as child processes on one lease and shows live who owns which partitions
as they split it; at ~1/4 of the duration one is killed with SIGKILL, at ~1/2 a fourth starts, at
~3/4 one closes gracefully; then a summary (failover, handoff, join times, moves, overlaps).

Options:
  --partitions N        partitions of the lease (default 32)
  --duration S          length of the script in seconds (default 20)
  --no-faults           only split; no kill, join or close
  --keep                keep the workers running after the script until Ctrl-C
  --database-url URL    Postgres (default: $DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --schema NAME         the demo's own schema, dropped and recreated (default dbleases_demo)
  -h, --help            show this help`;

const OPTIONS = {
  partitions: { type: 'string' },
  duration: { type: 'string' },
  'no-faults': { type: 'boolean' },
  keep: { type: 'boolean' },
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`Expected --${name} to be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** Connects, or explains in one line how to get a database. */
async function openPostgres(url: string): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
    return pool;
  } catch (error) {
    await pool.end().catch(() => {});
    // Issue 5: when no Postgres answers, run the lease store on embedded PGlite (workers in one process) here.
    const reason = describeError(error, { databaseUrl: url });
    throw new CliError(
      /^Could not connect/.test(reason) ? `No Postgres answered at ${redact(url)}: start one with \`docker compose up -d\` (or set DATABASE_URL)` : reason,
    );
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parsing(() => parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const url = databaseUrl(values['database-url']);
  const opts: ScriptOptions = {
    databaseUrl: url,
    schema: validateIdentifier('--schema', values.schema ?? 'dbleases_demo', 63),
    partitions: integer('partitions', values.partitions, 32, 4, 4096),
    durationMs: integer('duration', values.duration, 20, 4, 3600) * 1000,
    faults: !values['no-faults'],
    keep: values.keep === true,
    ttl: 1000,
    heartbeat: 250,
  };
  const pool = await openPostgres(url);
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${opts.schema}" CASCADE`);
    await migrate(toDbPort(pool), { schema: opts.schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
  } catch (error) {
    await pool.end().catch(() => {});
    throw new CliError(describeError(error, { databaseUrl: url }));
  }

  const script = new DemoScript(opts);
  const screen = new Screen(clock(), opts.partitions, () => script.workers);
  script.screen = screen;
  const onSignal = () => {
    screen.event('interrupted: stopping the workers');
    script.interrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  console.log(`dbleases demo: Postgres ${redact(url)}, schema ${opts.schema}`);
  console.log(
    opts.faults
      ? `Script: split → ~${opts.durationMs / 4000} s SIGKILL w1 → ~${opts.durationMs / 2000} s start w4 → ~${(opts.durationMs * 3) / 4000} s close one gracefully → ~${opts.durationMs / 1000} s summary`
      : `Script: split, then watch for ${opts.durationMs / 1000} s (no faults)`,
  );
  screen.start();
  let result;
  try {
    result = await script.run();
  } finally {
    screen.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!opts.keep) await pool.query(`DROP SCHEMA IF EXISTS "${opts.schema}" CASCADE`).catch(() => {});
    await pool.end().catch(() => {});
  }
  const summary = summarize(result, opts);
  console.log(`\nFinal split:\n${result.finalTable}\n\nSummary:\n${summary.text}\n`);
  if (result.interrupted) {
    console.log('Interrupted: every worker stopped.');
    return 130;
  }
  if (summary.failed.length > 0) {
    console.log(`FAILED: ${summary.failed.join('; ')}`);
    return 1;
  }
  console.log('All guarantees held.');
  return 0;
}
