/**
 * An attempt that WE interrupt is never the job's failure: the processor users are told to write
 * (it rejects when its `signal` aborts) must not lose its job when a close outlasts drainTimeout or
 * the lease is lost while Postgres stops answering. The job keeps its attempts, skips its backoff,
 * and runs again first, on the next owner, before any later job of its key.
 */
import type { Job } from 'bullmq';
import { createClient, type LeaseClient } from 'dbleases';
import { PartitionedQueue, PartitionedWorker } from 'dbleases/bullmq';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';

import { faultyPool } from '../helpers/faulty-pool.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { bullmqTestEnv } from './helpers.js';

const TTL = 1000;
const HB = 250;
const env = bullmqTestEnv('bullmq-abort', 'ba');

async function client(
  id: string,
  opts: { drainTimeout?: number; closeTimeout?: number; pool?: pg.Pool } = {},
): Promise<LeaseClient> {
  const c = await createClient(opts.pool ?? env.db.pool, id, {
    schema: env.db.schema,
    ttl: TTL,
    heartbeat: HB,
    ...(opts.drainTimeout === undefined ? {} : { drainTimeout: opts.drainTimeout }),
    ...(opts.closeTimeout === undefined ? {} : { closeTimeout: opts.closeTimeout }),
  });
  c.on('error', () => {}); // the hanging-database case reports its heartbeat failures here
  env.cleanup.push(() => c.close());
  return c;
}

type Data = { n: number };

/** The processor of the README: it stops (rejects with the signal's reason) when its signal aborts. */
function honouring(onStart: (job: Job<Data>) => void) {
  return (job: Job<Data>, _token?: string, signal?: AbortSignal) =>
    new Promise<void>((_resolve, reject) => {
      onStart(job);
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
}

interface Setup {
  name: string;
  ordered: boolean;
  jobOpts: { attempts?: number; backoff?: { type: 'fixed'; delay: number } };
}

async function scenario(
  { name, ordered, jobOpts }: Setup,
  first: { pool?: pg.Pool; drainTimeout?: number; closeTimeout?: number },
  interrupt: (c1: LeaseClient, w1: PartitionedWorker<Data, void>) => Promise<unknown>,
) {
  const q = new PartitionedQueue(name, { partitions: 1, connection: env.redis, prefix: env.prefix, ordered });
  env.cleanup.push(() => q.close());
  const c1 = await client(`${name}-1`, first);
  const failed: string[] = [];
  const started: number[] = [];
  const w1 = new PartitionedWorker<Data, void>(
    name,
    honouring((job) => started.push(job.data.n)),
    {
      client: c1,
      partitions: 1,
      connection: env.redis,
      prefix: env.prefix,
      ordered,
      forceCloseAfter: 200,
    },
  );
  w1.on('error', () => {});
  w1.on('failed', (job, error) => failed.push(`${job?.data.n}: ${error.message}`));
  env.cleanup.push(() => w1.close());
  await nextEvent(w1, 'assigned');
  const job1 = await q.add('j', { n: 1 }, { partitionKey: 'k', ...jobOpts });
  await q.add('j', { n: 2 }, { partitionKey: 'k', ...jobOpts });
  await waitFor(() => started.length === 1, { message: 'job 1 running on the first owner' });

  const c2 = await client(`${name}-2`);
  const ran2: Array<{ n: number; attemptsMade: number }> = [];
  const w2 = new PartitionedWorker<Data, void>(
    name,
    async (job) => void ran2.push({ n: job.data.n, attemptsMade: job.attemptsMade }),
    { client: c2, partitions: 1, connection: env.redis, prefix: env.prefix, ordered },
  );
  w2.on('error', () => {});
  w2.on('failed', (job, error) => failed.push(`${job?.data.n}: ${error.message}`));
  env.cleanup.push(() => w2.close());

  await interrupt(c1, w1);
  await waitFor(() => ran2.length === 2 || failed.length > 0, {
    message: 'both jobs on the next owner (or a failure)',
    timeout: 15_000,
  });
  expect(started).toEqual([1]); // the first owner never got to job 2
  // Job 1 ran first and had not used an attempt: the interruption was not its failure.
  expect(ran2).toEqual([
    { n: 1, attemptsMade: 0 },
    { n: 2, attemptsMade: 0 },
  ]);
  expect(failed).toEqual([]);
  const done = await q.queue(0).getJob(job1.id!);
  expect(await done!.getState()).toBe('completed');
  expect(done!.failedReason).toBeFalsy();
  expect(done!.attemptsMade).toBe(1);
}

describe.each([
  { mode: 'ordered', ordered: true },
  { mode: 'unordered', ordered: false },
])('an interrupted attempt ($mode) is given back, not failed', ({ mode, ordered }) => {
  it('client.close() outlasting drainTimeout: the job runs again first on the next owner', async () => {
    await scenario({ name: `close-${mode}`, ordered, jobOpts: {} }, { drainTimeout: 300 }, (c1) =>
      c1.close(),
    );
  });

  it('with attempts left: the abort burns no attempt and waits out no backoff', async () => {
    // A counted attempt would hold job 1 back for the 60 s backoff and the wait below would time out.
    await scenario(
      {
        name: `backoff-${mode}`,
        ordered,
        jobOpts: { attempts: 3, backoff: { type: 'fixed', delay: 60_000 } },
      },
      { drainTimeout: 300 },
      (c1) => c1.close(),
    );
  });

  it('the lease lost because Postgres stopped answering (Redis healthy)', async () => {
    const hanging = faultyPool(env.db.pool);
    await scenario({ name: `lost-${mode}`, ordered, jobOpts: {} }, { pool: hanging.pool }, async (c1) => {
      const lost = nextEvent(c1, 'lost', { timeout: TTL + 2_000 });
      hanging.hang();
      await lost;
      env.cleanup.push(async () => hanging.answer());
    });
  });

  it("a graceful stop as in the README (worker.close(), then client.close()) while Postgres doesn't answer: both resolve, the job runs first on the next owner", async () => {
    const hanging = faultyPool(env.db.pool);
    await scenario(
      { name: `sigterm-${mode}`, ordered, jobOpts: {} },
      { pool: hanging.pool, closeTimeout: 300 },
      async (c1, w1) => {
        env.cleanup.push(async () => hanging.answer());
        hanging.hang();
        let closed = false;
        const stop = (async () => {
          await w1.close();
          await c1.close();
          closed = true;
        })();
        // Bounded: the fence at the ttl aborts the drain, then each database step waits closeTimeout at most.
        await waitFor(() => closed, {
          message: 'the graceful stop to resolve',
          timeout: TTL + 4 * 300 + 3_000,
        });
        await stop;
      },
    );
  });
});
