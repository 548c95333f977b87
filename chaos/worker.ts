/**
 * One chaos worker process: a lease client and a PartitionedWorker, whose processor records each
 * execution with a fenced write (records.ts). Prints JSON lines on stdout: `ready`, `partitions`,
 * `error` (rate-limited), `reopened`, `closed`. SIGTERM closes gracefully (the worker hands its
 * partitions over, then the client leaves). SIGUSR2 closes the PartitionedWorker and opens a new one
 * twice in a row, the second close while the reopened lease is still claiming (`close-claim`).
 * SIGUSR1 makes every Postgres query of this process stop answering, then stops gracefully
 * (`blackhole-stop`): the stop must still end, within the bounds of the close. Exits when its parent
 * goes away (stdin closes), so a dead run leaves no worker behind.
 *
 * With CHAOS_HONOUR_SIGNAL=1 the processor is the one the README asks for: it rejects as soon as its
 * signal aborts. Otherwise it ignores the signal, as a careless processor would.
 *
 * Environment: CHAOS_ID, CHAOS_SCHEMA, CHAOS_PREFIX, CHAOS_PARTITIONS, CHAOS_TTL, CHAOS_HEARTBEAT,
 * CHAOS_JOB_MS, CHAOS_HONOUR_SIGNAL, DATABASE_URL, REDIS_URL.
 */
import type { Job } from 'bullmq';
import { createClient } from 'dbleases';
import { jobPartition, PartitionedWorker } from 'dbleases/bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

import { faultyPool } from '../test/helpers/faulty-pool.js';
import { fencedWriteSql } from './records.js';

const env = process.env;
const id = env.CHAOS_ID!;
const schema = env.CHAOS_SCHEMA!;
const LEASE = 'chaos';
const TABLE_PREFIX = 'db_leases';
const jobMs = Number(env.CHAOS_JOB_MS ?? 0);
const honourSignal = env.CHAOS_HONOUR_SIGNAL === '1';

const out = (type: string, data: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ type, id, pid: process.pid, ...data })}\n`);
let errors = 0;
const reportError = (where: string, error: Error, partition?: number) => {
  // A fault produces bursts of the same error: count them all, print the first few.
  if (++errors <= 20) out('error', { where, partition, message: error.message });
};

// One pool for the lease client and the side effects, named so the run can find its connections;
// behind a switch that can make all of them stop answering (SIGUSR1).
const realPool = new pg.Pool({
  connectionString: env.DATABASE_URL,
  max: 5,
  application_name: id,
  connectionTimeoutMillis: 2000,
});
realPool.on('error', (e) => reportError('pool', e));
const blackhole = faultyPool(realPool);
const pool = blackhole.pool;
const client = await createClient(pool, id, {
  schema,
  tablePrefix: TABLE_PREFIX,
  ttl: Number(env.CHAOS_TTL ?? 1000),
  heartbeat: Number(env.CHAOS_HEARTBEAT ?? 250),
  migrationTimeout: 20_000,
  info: { chaos: true, honourSignal },
  closeTimeout: 1_000,
});
client.on('error', (e) => reportError('client', e));

// The host clock as the database sees it: start times are stored in database time.
const t0 = Date.now();
const { rows } = await pool.query<{ now: number }>(
  'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now',
);
const offset = Number(rows[0]!.now) - (t0 + Date.now()) / 2;
const dbNow = () => Date.now() + offset;

const fenced = fencedWriteSql(schema, TABLE_PREFIX);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class FencedError extends Error {
  override name = 'FencedError';
}

interface Data {
  key: string;
  seq: number;
}

const redis = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null, connectionName: `${id}-shared` });
redis.on('error', (e) => reportError('redis', e));
/** The side effect: a write that the database accepts only from the partition's current owner. */
async function fencedWrite(job: Job<Data, number>): Promise<number> {
  const { partition, epoch } = jobPartition(job)!;
  const startedAt = dbNow();
  if (jobMs > 0) await sleep(jobMs);
  const values = [
    LEASE,
    partition,
    epoch,
    id,
    job.data.key,
    job.data.seq,
    process.pid,
    job.id ?? null,
    job.attemptsStarted,
    startedAt,
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await pool.query<{ accepted: number }>(fenced, values);
      if (res.rows[0]!.accepted === 1) return job.data.seq;
      throw new FencedError(`fenced: epoch ${epoch} of partition ${partition} is no longer ${id}'s`);
    } catch (error) {
      // Connection cut (pg_terminate_backend, restart): try again for a while, then give up (the
      // job is retried in place, or re-run by the next owner).
      if (error instanceof FencedError || attempt >= 20) throw error;
      await sleep(100);
    }
  }
}

// The careless processor ignores its AbortSignal: the fence, not the signal, keeps a stale owner's
// write out. The one the README asks for stops when the signal aborts; its rejection must never
// count as the job's failure (the job runs again, first, on the next owner).
const careless = (job: Job<Data, number>) => fencedWrite(job);
const honouring = (job: Job<Data, number>, _token?: string, signal?: AbortSignal) =>
  new Promise<number>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    fencedWrite(job).then(resolve, reject);
  });

function openWorker(): PartitionedWorker<Data, number> {
  const w = new PartitionedWorker<Data, number>(LEASE, honourSignal ? honouring : careless, {
    client,
    partitions: Number(env.CHAOS_PARTITIONS),
    connection: redis,
    prefix: env.CHAOS_PREFIX!,
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 1000 },
  });
  w.on('error', (e, p) => reportError('worker', e, p));
  const report = () => out('partitions', { values: w.partitions() });
  w.on('assigned', report);
  w.on('revoked', report);
  return w;
}
let worker = openWorker();

/** `close-claim`: close and reopen, then close again while the reopened lease is claiming. */
let reopening: Promise<void> | undefined;
async function reopenTwice(): Promise<void> {
  await worker.close();
  worker = openWorker();
  await worker.waitUntilReady();
  // Claims go out right after the join: close at the first partition granted, or at once.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 50);
    worker.lease?.once('change', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  await worker.close();
  worker = openWorker();
  await worker.waitUntilReady();
  out('reopened');
}
process.on('SIGUSR2', () => {
  if (closing || reopening) return;
  reopening = reopenTwice()
    .catch((e: Error) => reportError('reopen', e))
    .finally(() => (reopening = undefined));
});

let closing = false;
async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => {
    out('close-hung', { errors });
    process.exit(code);
  }, 15_000);
  const started = performance.now();
  try {
    await reopening;
    await worker.close(); // drains its partition Workers and hands the partitions over
    await client.close();
    out('closed', { errors, closeMs: Math.round(performance.now() - started) });
    await redis.quit();
    blackhole.answer(); // so that the pool can end
    await realPool.end();
  } finally {
    clearTimeout(force);
    process.exit(code);
  }
}
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGUSR1', () => {
  blackhole.hang();
  void shutdown(0);
});
process.on('SIGINT', () => void shutdown(0));
// The parent holds our stdin open; when it dies, stdin ends.
process.stdin.on('end', () => void shutdown(0));
process.stdin.resume();

// Event-loop stalls (CPU starvation, GC): a late timer is reported so slow takeovers can be told
// apart from a starved machine.
let expected = performance.now() + 100;
setInterval(() => {
  const late = performance.now() - expected;
  if (late > 250) out('stall', { ms: Math.round(late) });
  expected = performance.now() + 100;
}, 100).unref();

await worker.waitUntilReady();
out('ready', { offset });
