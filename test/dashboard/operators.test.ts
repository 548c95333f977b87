/**
 * The operators' view over HTTP, against a real PartitionedWorker, BullMQ queues in Redis and Postgres:
 * lag and waiting jobs per partition in /metrics, a partition whose processor never settles flagged
 * stuck (page stream and /metrics), throughput per client in the `ops` events, and the partition
 * detail endpoint's running jobs and last failures.
 */
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PartitionedQueue, PartitionedWorker } from '../../src/bullmq/index.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import type { OpsView } from '../../src/dashboard/ops.js';
import { createClient } from '../../src/index.js';
import { deletePrefix, redisClient } from '../bullmq/helpers.js';
import { uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, openEvents, request, SHORT, type Started, waitFor } from './helpers.js';

const SIZE = 4;
const pool = newPool();
const schema = uniqueName('dashboard-operators');
const prefix = uniqueName('dashboard-operators', 'bull');
const redis = redisClient();
let a: Started;
let queue: PartitionedQueue;
let worker: PartitionedWorker<{ kind: string }>;
let dashboard: Dashboard;
let url: string;
let hungId: string | undefined;

/** A key of each partition, so the test can aim jobs. */
const keyOf = (p: number) => {
  for (let i = 0; ; i++) if (queue.partitionFor(`k${i}`) === p) return `k${i}`;
};
const HUNG = 1;
const BUSY = 2;
const FAILING = 3;

beforeAll(async () => {
  // A short drain: closing ends the hung job through its signal instead of waiting the default 30 s.
  const client = await createClient(pool, 'worker-a', { schema, ...SHORT, drainTimeout: 300 });
  client.on('error', () => {});
  a = { client, lease: client.lease('ops', SIZE) };
  queue = new PartitionedQueue('ops', { partitions: SIZE, connection: redis, prefix });
  worker = new PartitionedWorker<{ kind: string }>(
    'ops',
    async (job: Job<{ kind: string }>, _token, signal) => {
      if (job.data.kind === 'fail') throw new Error('card declined <b>');
      if (job.data.kind === 'hang') {
        hungId = job.id;
        // Never settles by itself: only the signal (close) ends it.
        await new Promise((_r, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
      }
    },
    { client: a.client, partitions: SIZE, connection: redis, prefix },
  );
  worker.on('error', () => {});
  await worker.waitUntilReady();
  await waitFor('the worker to own every partition', () => worker.partitions().length === SIZE);
  dashboard = createDashboard({
    db: pool,
    schema,
    connection: redis,
    prefix,
    stuckAfter: 1000,
    pollInterval: 100,
  });
  url = (await dashboard.listen(0)).url;
});

afterAll(async () => {
  await dashboard?.close();
  await worker?.close();
  await a?.client.close();
  await queue?.close();
  await deletePrefix(redis, prefix);
  redis.disconnect();
  await dropSchema(pool, schema);
  await pool.end();
});

async function metrics(): Promise<string> {
  return (await request(`${url}metrics`)).body;
}
const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("operators' view", () => {
  it('reports lag and waiting jobs per partition, and flags the partition whose job never settles', async () => {
    await queue.add('hang', { kind: 'hang' }, { partitionKey: keyOf(HUNG) });
    for (let i = 0; i < 3; i++) await queue.add('after', { kind: 'ok' }, { partitionKey: keyOf(HUNG) });
    await waitFor('the hung job to start', () => hungId !== undefined);
    const text = await waitFor('the partition to be flagged stuck', async () => {
      const m = await metrics();
      return value(m, 'dbleases_partitions_stuck{lease="ops"}') === 1 && m;
    });
    expect(value(text, `dbleases_partition_waiting_jobs{lease="ops",partition="${HUNG}"}`)).toBe(3);
    expect(value(text, `dbleases_partition_lag_seconds{lease="ops",partition="${HUNG}"}`)).toBeGreaterThan(1);
    expect(value(text, `dbleases_partition_waiting_jobs{lease="ops",partition="${BUSY}"}`)).toBe(0);
    expect(value(text, `dbleases_partition_lag_seconds{lease="ops",partition="${BUSY}"}`)).toBe(0);
  });

  it('streams lag, stuck flags and completions per client in `ops` events', async () => {
    const stream = await openEvents(`${url}events`);
    try {
      const first = JSON.parse((await stream.next((e) => e.event === 'ops')).data) as OpsView;
      expect(first.windowMs).toBe(15 * 60_000);
      expect(first.stuckAfterMs).toBe(1000);
      for (let i = 0; i < 5; i++) await queue.add('busy', { kind: 'ok' }, { partitionKey: keyOf(BUSY) });
      const seen: OpsView[] = [];
      await stream.next((e) => {
        if (e.event !== 'ops') return false;
        seen.push(JSON.parse(e.data) as OpsView);
        const done = new Map<number, number>();
        for (const v of seen) for (const p of v.points) done.set(p.t, p.completed['worker-a'] ?? 0);
        return [...done.values()].reduce((x, y) => x + y, 0) >= 5;
      }, 10_000);
      const ops = (seen[seen.length - 1] as OpsView).leases.ops;
      // Column-wise, index = partition.
      expect(ops?.waiting).toHaveLength(SIZE);
      expect(ops?.waiting[HUNG]).toBe(3);
      expect(ops?.active[HUNG]).toBe(1);
      expect(ops?.lagMs[HUNG]).toBeGreaterThan(1000);
      expect(ops?.headForMs[HUNG]).toBeGreaterThan(1000);
      expect(ops?.lagMs[BUSY]).toBeNull();
      expect(ops?.stuck).toEqual([HUNG]);
    } finally {
      stream.close();
    }
  });

  it('shows the running jobs and the last failures of a partition, read-only', async () => {
    const failing = await queue.add('charge', { kind: 'fail' }, { partitionKey: keyOf(FAILING) });
    await waitFor('the job to fail', async () => (await failing.getState()) === 'failed');
    const res = await request(`${url}api/leases/ops/partitions/${FAILING}`);
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('<b>'); // escaped like every JSON answer
    const detail = JSON.parse(res.body) as {
      failures: { id: string; reason: string; attempts: number; failedAt: number }[];
      queue: string;
    };
    expect(detail.queue).toBe(queue.queueName(FAILING));
    expect(detail.failures[0]).toMatchObject({ id: failing.id, reason: 'card declined <b>', attempts: 1 });
    expect(detail.failures[0]?.failedAt).toBeGreaterThan(Date.now() - 60_000);

    const hung = JSON.parse((await request(`${url}api/leases/ops/partitions/${HUNG}`)).body) as {
      running: { id: string; attempt: number; startedAt: number; worker: string | null }[];
      next: { id: string } | null;
      counts: { waiting: number; active: number };
      lag: { stuck: boolean } | null;
      owner: string;
    };
    expect(hung.owner).toBe('worker-a');
    expect(hung.counts).toMatchObject({ waiting: 3, active: 1 });
    expect(hung.running).toHaveLength(1);
    expect(hung.running[0]).toMatchObject({ id: hungId, attempt: 1 });
    expect(hung.running[0]?.startedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(hung.next?.id).toBeTruthy();
    expect(hung.lag?.stuck).toBe(true);
  });

  it('shows an ordered retry backing off: its error, attempts and next attempt time', async () => {
    const BACKOFF = 0;
    const job = await queue.add(
      'charge',
      { kind: 'fail' },
      { partitionKey: keyOf(BACKOFF), attempts: 3, backoff: { type: 'fixed', delay: 20_000 } },
    );
    const detail = await waitFor('the retry to back off', async () => {
      const d = JSON.parse((await request(`${url}api/leases/ops/partitions/${BACKOFF}`)).body) as {
        backoffUntil: number | null;
        next: { id: string; attempts: number; lastError: string | null } | null;
      };
      return d.backoffUntil !== null && d.next?.id === job.id && d;
    });
    expect(detail.next).toMatchObject({ attempts: 1, lastError: 'card declined <b>' });
    expect(detail.backoffUntil).toBeGreaterThan(Date.now() + 10_000);
    expect(detail.backoffUntil).toBeLessThan(Date.now() + 21_000);
  });

  it('refuses a partition outside the lease, or not a number, with 400', async () => {
    for (const [path, text] of [
      ['api/leases/ops/partitions/4', 'a decimal integer from 0 to 3'],
      ['api/leases/ops/partitions/01', 'a decimal integer from 0 to 3'],
      ['api/leases/ops/partitions/x', 'got "x"'],
      ['api/leases/ops/other/1', 'Unknown path'],
    ] as const) {
      const res = await request(url + path);
      expect(res.status, path).toBe(400);
      expect((JSON.parse(res.body) as { error: string }).error, path).toContain(text);
    }
    expect((await request(`${url}api/leases/nope/partitions/0`)).status).toBe(404);
  });

  it('validates stuckAfter, naming it', () => {
    expect(() => createDashboard({ db: pool, stuckAfter: 10 })).toThrow(
      'Expected `stuckAfter` to be an integer from 1000 to 86400000, got `10` (number)',
    );
  });
});
