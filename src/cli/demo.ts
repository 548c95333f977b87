/**
 * `dbleases demo` (`npm run demo`): worker processes (each a PartitionedWorker on its own lease client)
 * split the partitions of a BullMQ queue while a producer enqueues jobs by key; one is killed, one
 * joins, one stops gracefully; the jobs' order, losses, duplicates and partition overlaps are checked
 * from what the workers report; a summary ends it, with a non-zero exit if a guarantee failed.
 * It works in its own namespace (schema `dbleases_demo`, Redis prefix `dbleases-demo`, both cleaned at
 * start and at the end), so it never touches other data.
 */
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';

import { createDashboard } from '../dashboard/index.js';
import { databaseUrl, identifierFlag, parsing, redact, UsageError } from './args.js';
import {
  clearRedisPrefix,
  closeEnvironment,
  DEFAULT_REDIS_URL,
  type DemoEnvironment,
  dropSchema,
  openEnvironment,
  resetSchema,
  storeDb,
} from './demo/environment.js';
import { clock } from './demo/fleet.js';
import { Screen } from './demo/screen.js';
import { DemoScript, type ScriptOptions } from './demo/script.js';
import { summarize } from './demo/summary.js';
import { inCheckout } from './install.js';

export const usage = `Usage: dbleases demo [options]${inCheckout ? '   (npm run demo -- [options])' : ''}

Starts the dashboard, 3 worker processes (each a PartitionedWorker) and a producer enqueuing jobs for
500 keys; at ~1/4 of the duration one worker is killed with SIGKILL, at ~1/2 one more starts, at ~3/4
one stops gracefully; then the queue drains and a summary checks order per key, lost and duplicate jobs,
overlapping ownership, failover and handoff times. Exit code 1 if a guarantee failed.

Needs Redis (REDIS_URL, default ${DEFAULT_REDIS_URL}; else a private redis-server from the PATH) and
Postgres (DATABASE_URL; else embedded PGlite with the workers inside this process).

Options:
  --workers N           worker processes at the start (default 3)
  --partitions N        partitions (= BullMQ queues) (default 32)
  --jobs N              jobs to enqueue (default 10000)
  --keys N              distinct keys (default 500)
  --duration S          length of the script in seconds (default 40)
  --no-faults           no kill, join or stop: only split and process
  --keep                keep the fleet and the dashboard running after the script until Ctrl-C
  --port N              dashboard port (default 3000; a free one if taken)
  --database-url URL    Postgres (default: $DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --redis-url URL       Redis (default: $REDIS_URL or ${DEFAULT_REDIS_URL})
  --schema NAME         the demo's own schema, dropped and recreated (default dbleases_demo)
  --redis-prefix NAME   the demo's own Redis key prefix, its keys deleted (default dbleases-demo)
  -h, --help            show this help`;

const OPTIONS = {
  workers: { type: 'string' },
  partitions: { type: 'string' },
  jobs: { type: 'string' },
  keys: { type: 'string' },
  duration: { type: 'string' },
  'no-faults': { type: 'boolean' },
  keep: { type: 'boolean' },
  port: { type: 'string' },
  'database-url': { type: 'string' },
  'redis-url': { type: 'string' },
  schema: { type: 'string' },
  'redis-prefix': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const QUEUE = 'demo';

function integer(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(
      `Expected --${name} to be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  return n;
}

interface RunningDashboard {
  url: string;
  close(): Promise<void>;
}

/** The dashboard in this process, on the demo's store and Redis; port 0 (any free one) if `port` is taken. */
async function startDashboard(
  env: DemoEnvironment,
  schema: string,
  prefix: string,
  port: number,
): Promise<RunningDashboard> {
  const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  const dashboard = createDashboard({
    db: storeDb(env.store),
    schema,
    connection: redis,
    prefix,
    queues: [QUEUE],
  });
  const close = async () => {
    await dashboard.close().catch(() => {});
    redis.disconnect();
  };
  try {
    const url = await dashboard.listen(port).then(
      (x) => x.url,
      async (error: unknown) => {
        if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
        return (await dashboard.listen(0)).url;
      },
    );
    return { url, close };
  } catch (error) {
    await close();
    throw error;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parsing(() =>
    parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }),
  );
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const workers = integer('workers', values.workers, 3, 2, 32);
  const partitions = integer('partitions', values.partitions, 32, 4, 4096);
  const jobs = integer('jobs', values.jobs, 10_000, 1, 10_000_000);
  const keys = integer('keys', values.keys, 500, 1, 1_000_000);
  const durationMs = integer('duration', values.duration, 40, 4, 3600) * 1000;
  const port = integer('port', values.port, 3000, 0, 65535);
  const schema = identifierFlag('--schema', values.schema ?? 'dbleases_demo', 63);
  const prefix = values['redis-prefix'] ?? 'dbleases-demo';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix))
    throw new UsageError(
      `Expected --redis-prefix to be 1-64 letters, digits, _ or -, got ${JSON.stringify(prefix)}`,
    );
  const pgUrl = databaseUrl(values['database-url']);
  const redisUrl = values['redis-url'] ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;

  // Ctrl-C while setting up: finish the step at hand, then clean up (a private redis-server included)
  // instead of dying with it running. Once the script runs, its own handler stops the fleet.
  let interrupted = false;
  const onEarlySignal = () => (interrupted = true);
  process.on('SIGINT', onEarlySignal);
  process.on('SIGTERM', onEarlySignal);
  try {
    const env = await openEnvironment(pgUrl, redisUrl);
    return await withEnvironment(
      env,
      {
        workers,
        partitions,
        jobs,
        keys,
        durationMs,
        port,
        schema,
        prefix,
        faults: !values['no-faults'],
        keep: values.keep === true,
      },
      () => interrupted,
    );
  } finally {
    process.off('SIGINT', onEarlySignal);
    process.off('SIGTERM', onEarlySignal);
  }
}

interface Settings {
  workers: number;
  partitions: number;
  jobs: number;
  keys: number;
  durationMs: number;
  port: number;
  schema: string;
  prefix: string;
  faults: boolean;
  keep: boolean;
}

/** Cleans the namespace, starts the dashboard, runs the script; cleans up whatever happens. */
async function withEnvironment(
  env: DemoEnvironment,
  o: Settings,
  interrupted: () => boolean,
): Promise<number> {
  const { workers, partitions, jobs, keys, durationMs, port, schema, prefix } = o;
  let dashboard: RunningDashboard | undefined;
  try {
    await resetSchema(env.store, schema);
    await clearRedisPrefix(env.redisUrl, prefix);
    const inProcess = env.store.kind === 'pglite';
    const ttl = 1000;
    const heartbeat = 250;
    const opts: ScriptOptions = {
      workers,
      partitions,
      ttl,
      heartbeat,
      schema,
      durationMs,
      faults: o.faults,
      keep: o.keep,
      jobs,
      inProcess,
      settings: {
        databaseUrl: env.store.kind === 'pg' ? env.store.url : undefined,
        inProcessDb: inProcess ? storeDb(env.store) : undefined,
        worker: {
          schema,
          partitions,
          ttl,
          heartbeat,
          redisUrl: env.redisUrl,
          prefix,
          queue: QUEUE,
          workMs: 25,
        },
      },
      producer: {
        redisUrl: env.redisUrl,
        prefix,
        queue: QUEUE,
        partitions,
        jobs,
        keys,
        spreadMs: durationMs * 0.8,
      },
    };
    for (const note of env.notes) console.log(note);
    dashboard = await startDashboard(env, schema, prefix, port);
    const store = env.store.kind === 'pg' ? `Postgres ${redact(env.store.url)}` : 'embedded PGlite';
    console.log(`dbleases demo: ${store}, schema ${schema}; Redis ${redact(env.redisUrl)}, prefix ${prefix}`);
    console.log(`Dashboard: ${dashboard.url}  (open it to watch the partitions move)`);
    const s = (f: number) => Math.round((durationMs * f) / 1000);
    console.log(
      opts.faults
        ? `Script: split → ~${s(0.25)} s SIGKILL w1${inProcess ? ' (skipped in-process)' : ''} → ~${s(0.5)} s start w${workers + 1} → ~${s(0.75)} s stop one gracefully → drain → summary`
        : `Script: split and process ${jobs} jobs (no faults)`,
    );
    if (interrupted()) return 130;
    return await runScript(opts);
  } finally {
    await dashboard?.close();
    if (!o.keep) {
      await dropSchema(env.store, schema);
      await clearRedisPrefix(env.redisUrl, prefix).catch(() => 0);
    }
    await closeEnvironment(env);
  }
}

async function runScript(opts: ScriptOptions): Promise<number> {
  const script = new DemoScript(opts);
  const screen = new Screen(
    clock(),
    opts.partitions,
    () => script.workers,
    () => {
      const check = script.ledger.live(clock());
      return {
        done: script.ledger.completed,
        total: opts.jobs,
        enqueued: script.producer.added,
        perSecond: script.ledger.rate(clock()),
        moves: script.moves,
        orderViolations: check.orderViolations.length,
        duplicates: check.killDuplicates + check.otherDuplicates.length,
      };
    },
  );
  script.screen = screen;
  const onSignal = () => {
    screen.event('interrupted: stopping the workers');
    script.interrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  screen.start();
  let result;
  try {
    result = await script.run();
  } finally {
    screen.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const summary = summarize(result, opts);
  console.log(`\nFinal split:\n${result.finalTable}\n\nSummary:\n${summary.text}\n`);
  for (const skipped of result.skipped) console.log(`Skipped ${skipped}.`);
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
