/**
 * PartitionedWorker in one process, on the real lease core (Postgres) and Redis: Workers follow the
 * lease, ordered retries in place, graceful handover, partition/epoch for the processor, refusals.
 */
import { type Job, Worker } from 'bullmq';
import { createClient, type LeaseClient } from 'dbleases';
import {
  jobPartition,
  PartitionedQueue,
  PartitionedWorker,
  type PartitionedWorkerOptions,
} from 'dbleases/bullmq';
import { describe, expect, it } from 'vitest';

import { nextEvent, waitFor } from '../helpers/wait.js';
import { bullmqTestEnv, latch, redisClient } from './helpers.js';

const TTL = 1000;
const HB = 250;
const env = bullmqTestEnv('bullmq-worker', 'bw');

async function client(id: string, drainTimeout?: number): Promise<LeaseClient> {
  const c = await createClient(env.db.pool, id, {
    schema: env.db.schema,
    ttl: TTL,
    heartbeat: HB,
    ...(drainTimeout === undefined ? {} : { drainTimeout }),
  });
  env.cleanup.push(() => c.close());
  return c;
}

function producer(name: string, partitions: number): PartitionedQueue {
  const q = new PartitionedQueue(name, { partitions, connection: env.redis, prefix: env.prefix });
  env.cleanup.push(() => q.close());
  return q;
}

function worker<D, R>(
  name: string,
  processor: (job: Job<D, R>, token?: string, signal?: AbortSignal) => Promise<R>,
  options: Omit<PartitionedWorkerOptions, 'connection'> &
    Partial<Pick<PartitionedWorkerOptions, 'connection'>>,
): PartitionedWorker<D, R> {
  const w = new PartitionedWorker<D, R>(name, processor, {
    connection: env.redis,
    prefix: env.prefix,
    ...options,
  });
  w.on('error', (e) => console.error('worker error', e));
  env.cleanup.push(() => w.close());
  return w;
}

describe('PartitionedWorker', () => {
  it('runs one Worker per owned partition, named after the client, and tells the processor its partition and epoch', async () => {
    const name = 'basic';
    const c = await client('basic-1');
    const q = producer(name, 4);
    const seen: Array<{ key: string; partition: number; epoch: number; leaseEpoch: number | undefined }> = [];
    const w = worker<{ key: string }, string>(
      name,
      async (job) => {
        const ctx = jobPartition(job)!;
        seen.push({
          key: job.data.key,
          partition: ctx.partition,
          epoch: ctx.epoch,
          leaseEpoch: w.lease!.epoch(ctx.partition),
        });
        return job.data.key;
      },
      { client: c, partitions: 4 },
    );
    await nextEvent(w, 'assigned', { filter: () => w.partitions().length === 4 });
    expect(w.partitions()).toEqual([0, 1, 2, 3]);
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const jobs = await q.addBulk(
      keys.map((key) => ({ name: 'j', data: { key }, opts: { partitionKey: key } })),
    );
    await waitFor(() => seen.length === keys.length, { message: 'all jobs processed' });
    for (const s of seen) {
      expect(s.partition).toBe(q.partitionFor(s.key));
      expect(s.epoch).toBe(s.leaseEpoch);
    }
    expect(jobs.map((j) => typeof j.id)).toEqual(keys.map(() => 'string'));
    const done = await q.queue(q.partitionFor('k0')).getJob(jobs[0]!.id!);
    expect(done?.processedBy).toBe('basic-1');
    expect(await q.queue(0).getGlobalConcurrency()).toBe(1);
    expect(w.worker(0)?.opts.name).toBe('basic-1');
    // CLIENT LIST (what bull-board's "connected workers" reads) names the consumer of each partition.
    const workers = await q.queue(2).getWorkers();
    expect(workers.map((c) => c.rawname)).toEqual([
      `${env.prefix}:${Buffer.from('basic-2').toString('base64')}:w:basic-1`,
    ]);
  });

  it('retries a failing job in place, after its backoff, before any later job of its partition', async () => {
    const name = 'retry';
    const c = await client('retry-1');
    const q = producer(name, 2);
    const log: Array<{ id: string; attempt: number; at: number }> = [];
    const failures = new Map<string, number>([
      ['a1', 2], // fails twice, then succeeds on attempt 3
      ['b1', 5], // fails every attempt: after 3 attempts it fails for good and the partition moves on
    ]);
    const w = worker<{ id: string; key: string }, void>(
      name,
      async (job) => {
        log.push({ id: job.data.id, attempt: job.attemptsMade + 1, at: performance.now() });
        const left = failures.get(job.data.id) ?? 0;
        if (left > 0) {
          failures.set(job.data.id, left - 1);
          throw new Error(`boom ${job.data.id}`);
        }
      },
      { client: c, partitions: 2 },
    );
    const failed: Array<[string, boolean]> = [];
    w.on('failed', (job, _e, _p, willRetry) => failed.push([(job?.data as { id: string }).id, willRetry]));
    await nextEvent(w, 'assigned', { filter: () => w.partitions().length === 2 });
    // Two keys in the same partition; the one after the failing job must wait for its retries.
    const keyA = 'key-a';
    const keyB = [...Array(100).keys()]
      .map((i) => `key-b${i}`)
      .find((k) => q.partitionFor(k) === q.partitionFor(keyA))!;
    const opts = { attempts: 3, backoff: { type: 'fixed', delay: 150 } };
    await q.addBulk([
      { name: 'j', data: { id: 'a1', key: keyA }, opts: { partitionKey: keyA, ...opts } },
      { name: 'j', data: { id: 'a2', key: keyA }, opts: { partitionKey: keyA, ...opts } },
      { name: 'j', data: { id: 'b1', key: keyB }, opts: { partitionKey: keyB, ...opts } },
      { name: 'j', data: { id: 'b2', key: keyB }, opts: { partitionKey: keyB, ...opts } },
    ]);
    await waitFor(() => log.some((l) => l.id === 'b2'), { message: 'the last job', timeout: 10_000 });
    expect(log.map((l) => `${l.id}#${l.attempt}`)).toEqual([
      'a1#1',
      'a1#2',
      'a1#3',
      'a2#1',
      'b1#1',
      'b1#2',
      'b1#3',
      'b2#1',
    ]);
    for (let i = 1; i < log.length; i++) {
      if (log[i]!.id === log[i - 1]!.id) expect(log[i]!.at - log[i - 1]!.at).toBeGreaterThanOrEqual(140); // the backoff held the partition
    }
    const p = q.partitionFor(keyA);
    const b1 = (await q.queue(p).getFailed()).find((j) => (j.data as { id: string }).id === 'b1')!;
    expect(b1.attemptsMade).toBe(3);
    expect(b1.failedReason).toBe('boom b1');
    expect(failed).toEqual([
      ['a1', true],
      ['a1', true],
      ['b1', true],
      ['b1', true],
      ['b1', false],
    ]);
  });

  it('hands partitions over on client.close() right after in-flight jobs finish', async () => {
    const name = 'handover';
    const c1 = await client('handover-1');
    const q = producer(name, 4);
    const hold = latch();
    const started = latch();
    const w1 = worker<{ n: number }, void>(
      name,
      async () => {
        started.open();
        await hold.promise;
      },
      { client: c1, partitions: 4 },
    );
    await nextEvent(w1, 'assigned', { filter: () => w1.partitions().length === 4 });
    const c2 = await client('handover-2');
    const ran2: number[] = [];
    const w2 = worker<{ n: number }, void>(name, async (job) => void ran2.push(job.data.n), {
      client: c2,
      partitions: 4,
    });
    await waitFor(() => w1.partitions().length === 2 && w2.partitions().length === 2, {
      message: 'a 2/2 split',
      timeout: 10_000,
    });
    const p = w1.partitions()[0]!;
    const key = [...Array(200).keys()].find((k) => q.partitionFor(k) === p)!;
    await q.add('j', { n: 1 }, { partitionKey: key });
    await q.add('j', { n: 2 }, { partitionKey: key });
    await started.promise;
    const closing = c1.close();
    // The drain started (w1 stopped fetching) while job 1 runs; the partition stays with c1 until it ends.
    await waitFor(() => !w1.partitions().includes(p), { message: 'w1 to start draining' });
    expect(w2.partitions()).not.toContain(p);
    expect(ran2).toEqual([]);
    const releasedAt = performance.now();
    hold.open();
    await closing;
    await waitFor(() => w2.partitions().length === 4, { message: 'c2 to own all', timeout: 5_000 });
    const handover = performance.now() - releasedAt;
    await waitFor(() => ran2.includes(2), { message: 'job 2 on c2' });
    expect(ran2).toEqual([2]);
    console.log(
      `graceful handover: partitions running on the next owner ${handover.toFixed(0)} ms after the in-flight job finished`,
    );
    expect(handover).toBeLessThan(1500);
  });

  it('when a drain outlasts drainTimeout: aborts the job, force-closes, and the next owner runs it first', async () => {
    const name = 'drain-timeout';
    const c1 = await client('dt-1', 300);
    const q = producer(name, 1);
    const aborted: unknown[] = [];
    const never = latch(); // the first attempt ignores its signal and never ends on its own
    const w1 = worker<{ n: number }, void>(
      name,
      async (_job, _token, signal) => {
        signal?.addEventListener('abort', () => aborted.push(signal.reason));
        await never.promise;
      },
      { client: c1, partitions: 1, forceCloseAfter: 100 },
    );
    env.cleanup.push(async () => never.open());
    await nextEvent(w1, 'assigned');
    await q.add('j', { n: 1 }, { partitionKey: 'k' });
    await q.add('j', { n: 2 }, { partitionKey: 'k' });
    await waitFor(async () => (await q.getJobCounts('active')).active === 1, { message: 'job 1 active' });
    const c2 = await client('dt-2');
    const ran2: number[] = [];
    const w2 = worker<{ n: number }, void>(name, async (job) => void ran2.push(job.data.n), {
      client: c2,
      partitions: 1,
    });
    const recovered = nextEvent(w2, 'recovered', { timeout: 10_000 });
    const closedAt = performance.now();
    const closing = c1.close();
    await closing;
    const closeMs = performance.now() - closedAt;
    expect(aborted).toEqual([expect.objectContaining({ code: 'LEASE_LOST' })]);
    expect(closeMs).toBeLessThan(300 + 100 + 1000);
    await recovered;
    await waitFor(() => ran2.length === 2, { message: 'both jobs on the next owner' });
    expect(ran2).toEqual([1, 2]);
  });

  it('makes Redis refuse a second active job in a partition (global concurrency 1), whoever asks', async () => {
    const name = 'fence';
    const c = await client('fence-1');
    const q = producer(name, 1);
    const hold = latch();
    const w = worker<{ n: number }, void>(name, async () => hold.promise, { client: c, partitions: 1 });
    env.cleanup.push(async () => hold.open());
    await nextEvent(w, 'assigned');
    await q.add('j', { n: 1 }, { partitionKey: 'k' });
    await q.add('j', { n: 2 }, { partitionKey: 'k' });
    await waitFor(async () => (await q.getJobCounts('active')).active === 1, { message: 'job 1 active' });
    // A rogue consumer outside the lease (a stale owner, a plain BullMQ Worker) asks for the next job.
    const rogue = new Worker(q.queueName(0), null, {
      connection: env.redis,
      prefix: env.prefix,
      name: 'rogue',
    });
    env.cleanup.push(() => rogue.close());
    expect(await rogue.getNextJob('rogue-token', { block: false })).toBeUndefined();
    expect(await q.getJobCounts('active', 'waiting')).toEqual({ active: 1, waiting: 1 });
  });

  it('refuses a partition count that differs from the recorded one, and bad options', async () => {
    const c = await client('mismatch-1');
    const q = producer('mismatch', 8);
    await q.waitUntilReady();
    const w = worker('mismatch', async () => undefined, { client: c, partitions: 4 });
    await expect(w.waitUntilReady()).rejects.toMatchObject({
      code: 'PARTITION_COUNT_MISMATCH',
      message: expect.stringContaining('has 8 partitions'),
    });
    expect(w.partitions()).toEqual([]);
    expect(w.lease).toBeUndefined(); // the misconfigured worker never joined the lease, so it holds no partitions
    expect(() => worker('x', async () => undefined, { client: c, partitions: 4, concurrency: 2 })).toThrow(
      'Expected `concurrency` to be 1 when `ordered` is true (set `ordered: false` for more), got `2` (number)',
    );
    const plainRedis = redisClient();
    plainRedis.options.maxRetriesPerRequest = 20;
    env.cleanup.push(() => plainRedis.quit());
    expect(() =>
      worker('x', async () => undefined, { client: c, partitions: 4, connection: plainRedis }),
    ).toThrow(/maxRetriesPerRequest/);
  });
});
