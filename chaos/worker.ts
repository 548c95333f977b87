/**
 * One chaos worker process: a lease client and a PartitionedWorker, whose processor records each
 * execution with a fenced write (records.ts). Prints JSON lines on stdout: `ready`, `partitions`,
 * `error` (rate-limited), `closed`. SIGTERM closes gracefully (the worker hands its partitions over,
 * then the client leaves). Exits when its parent goes away (stdin closes), so a dead run leaves no worker behind.
 *
 * Environment: CHAOS_ID, CHAOS_SCHEMA, CHAOS_PREFIX, CHAOS_PARTITIONS, CHAOS_TTL, CHAOS_HEARTBEAT,
 * CHAOS_JOB_MS, DATABASE_URL, REDIS_URL.
 */
import { createClient } from 'dbleases';
import { jobPartition, PartitionedWorker } from 'dbleases/bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

import { fencedWriteSql } from './records.js';

const env = process.env;
const id = env.CHAOS_ID!;
const schema = env.CHAOS_SCHEMA!;
const LEASE = 'chaos';
const TABLE_PREFIX = 'db_leases';
const jobMs = Number(env.CHAOS_JOB_MS ?? 0);

const out = (type: string, data: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ type, id, pid: process.pid, ...data })}\n`);
let errors = 0;
const reportError = (where: string, error: Error, partition?: number) => {
  // A fault produces bursts of the same error: count them all, print the first few.
  if (++errors <= 20) out('error', { where, partition, message: error.message });
};

// One pool for the lease client and the side effects, named so the run can find its connections.
const pool = new pg.Pool({
  connectionString: env.DATABASE_URL,
  max: 5,
  application_name: id,
  connectionTimeoutMillis: 2000,
});
pool.on('error', (e) => reportError('pool', e));
const client = await createClient(pool, id, {
  schema,
  tablePrefix: TABLE_PREFIX,
  ttl: Number(env.CHAOS_TTL ?? 1000),
  heartbeat: Number(env.CHAOS_HEARTBEAT ?? 250),
  migrationTimeout: 20_000,
  info: { chaos: true },
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
const worker = new PartitionedWorker<Data, number>(
  LEASE,
  async (job) => {
    const { partition, epoch } = jobPartition(job)!;
    const startedAt = dbNow();
    if (jobMs > 0) await sleep(jobMs);
    // The side effect. It deliberately ignores the job's AbortSignal, as a careless processor would:
    // the fence, not the signal, is what keeps a stale owner's write out.
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
  },
  {
    client,
    partitions: Number(env.CHAOS_PARTITIONS),
    connection: redis,
    prefix: env.CHAOS_PREFIX!,
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 1000 },
  },
);
worker.on('error', (e, p) => reportError('worker', e, p));
const report = () => out('partitions', { values: worker.partitions() });
worker.on('assigned', report);
worker.on('revoked', report);

let closing = false;
async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(code), 15_000);
  try {
    await worker.close(); // drains its partition Workers and hands the partitions over
    await client.close();
    out('closed', { errors });
    await redis.quit();
    await pool.end();
  } finally {
    clearTimeout(force);
    process.exit(code);
  }
}
process.on('SIGTERM', () => void shutdown(0));
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
