/**
 * Worker processes (children) with a producer, on real Postgres and Redis: every job processed,
 * per-key order kept, no partition processed by two processes at overlapping times, balance ±1,
 * and a SIGKILLed owner's job reprocessed first in its partition within TTL + 3 s.
 */
import { PartitionedQueue } from 'dbleases/bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Child, type ChildMessage } from '../helpers/child.js';
import { testSchema } from '../helpers/db.js';
import { uniqueName } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';
import { deletePrefix, redisClient } from './helpers.js';

const TTL = 1000;
const HB = 250;
const prefix = uniqueName('bullmq-fleet', 'bf');
let db: Awaited<ReturnType<typeof testSchema>>;
let redis: Redis;
const children: Child[] = [];
const queues: PartitionedQueue[] = [];

beforeAll(async () => {
  db = await testSchema('bullmq-fleet');
  redis = redisClient();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
  await Promise.all(queues.splice(0).map((q) => q.close()));
});
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
  await db.drop();
});

function start(id: string, name: string, partitions: number, extra: Record<string, string> = {}): Child {
  const child = new Child('bullmq/fixtures/worker-child.ts', {
    DBL_SCHEMA: db.schema,
    DBL_ID: id,
    DBL_TTL: String(TTL),
    DBL_HB: String(HB),
    BQ_NAME: name,
    BQ_PARTITIONS: String(partitions),
    BQ_PREFIX: prefix,
    ...extra,
  });
  children.push(child);
  return child;
}

function producer(name: string, partitions: number): PartitionedQueue {
  const q = new PartitionedQueue(name, { partitions, connection: redis, prefix });
  queues.push(q);
  return q;
}

interface Run {
  pid: number;
  id: string;
  key: string;
  seq: number;
  partition: number;
  epoch: number;
  from: number;
  to: number;
}

/** Each job attempt as [start, end] in the process that ran it (to = Infinity if it never ended). */
function runs(procs: Child[]): Run[] {
  const all: Run[] = [];
  for (const c of procs) {
    const open = new Map<string, Run>();
    for (const m of c.messages) {
      if (m.type === 'start') {
        const run = {
          pid: c.pid,
          id: m.id as string,
          key: m.key as string,
          seq: m.seq as number,
          partition: m.partition as number,
          epoch: m.epoch as number,
          from: m.t,
          to: Infinity,
        };
        open.set(`${run.partition}:${run.id}`, run);
        all.push(run);
      } else if (m.type === 'end') {
        const run = open.get(`${m.partition as number}:${m.id as string}`);
        if (run) run.to = m.t;
      }
    }
  }
  return all.sort((a, b) => a.from - b.from);
}

function overlapping(all: Run[]): [Run, Run][] {
  const found: [Run, Run][] = [];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length && all[j]!.from < all[i]!.to; j++) {
      if (all[j]!.partition === all[i]!.partition && all[j]!.pid !== all[i]!.pid)
        found.push([all[i]!, all[j]!]);
    }
  }
  return found;
}

const lastPartitions = (c: Child) => (c.last('partitions')?.values as number[] | undefined) ?? [];

describe('a fleet of worker processes', () => {
  it('processes every job once, in per-key order, never one partition in two processes at once, balanced ±1', async () => {
    const name = 'fleet';
    const P = 12;
    const q = producer(name, P);
    const keys = Array.from({ length: 24 }, (_, i) => `customer-${i}`);
    let seq = 0;
    const addBatch = (n: number) =>
      q.addBulk(
        Array.from({ length: n }, (_, i) => {
          const key = keys[i % keys.length]!;
          return { name: 'j', data: { key, seq: seq++ }, opts: { partitionKey: key } };
        }),
      );
    // Jobs keep arriving (≈ 240/s over 24 keys, below the fleet's capacity) during the joins and the
    // graceful leave, so every handover happens with jobs in flight and queued.
    const env = { BQ_JOB_MS: '15' };
    let producing = true;
    const production = (async () => {
      while (producing) {
        await addBatch(12);
        // Paces the producer (≈ 240 jobs/s); nothing waits on this for state.
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const w1 = start('fleet-1', name, P, env);
    const w2 = start('fleet-2', name, P, env);
    await waitFor(() => lastPartitions(w1).length === P / 2 && lastPartitions(w2).length === P / 2, {
      timeout: 20_000,
      message: 'a 6/6 split',
    });
    const w3 = start('fleet-3', name, P, env);
    const procs = [w1, w2, w3];
    await waitFor(() => procs.every((c) => lastPartitions(c).length === P / 3), {
      timeout: 20_000,
      message: 'a 4/4/4 split',
    });
    w1.kill('SIGTERM'); // graceful: hands over after its in-flight jobs
    await w1.exited;
    await waitFor(() => lastPartitions(w2).length === P / 2 && lastPartitions(w3).length === P / 2, {
      timeout: 10_000,
      message: 'a 6/6 split after w1 left',
    });
    await addBatch(120);
    producing = false;
    await production;
    await waitFor(async () => (await q.getJobCounts('completed')).completed === seq, {
      timeout: 30_000,
      message: 'every job completed',
    });
    console.log(`fleet: ${seq} jobs`);

    const all = runs(procs);
    expect(all.filter((r) => r.to === Infinity)).toEqual([]);
    // Every job ran exactly once (no crash here), per key in enqueue order.
    expect(all.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: seq }, (_, i) => i));
    for (const key of keys) {
      const order = all.filter((r) => r.key === key).map((r) => r.seq);
      expect(order, key).toEqual([...order].sort((a, b) => a - b));
    }
    expect(overlapping(all)).toEqual([]);
    const moved = Array.from(
      { length: P },
      (_, p) => new Set(all.filter((r) => r.partition === p).map((r) => r.pid)).size,
    ).filter((n) => n > 1);
    expect(moved.length).toBeGreaterThanOrEqual(4); // handovers happened with jobs in the partitions
    // A partition changes process only with a higher epoch.
    for (let p = 0; p < P; p++) {
      const inP = all.filter((r) => r.partition === p);
      for (let i = 1; i < inP.length; i++) {
        if (inP[i]!.pid !== inP[i - 1]!.pid) expect(inP[i]!.epoch).toBeGreaterThan(inP[i - 1]!.epoch);
      }
    }
    expect(procs.flatMap((c) => c.messages.filter((m) => m.type === 'error'))).toEqual([]);
  });

  it('reprocesses a SIGKILLed job first in its partition within TTL + 3 s', async () => {
    const name = 'kill';
    const P = 4;
    const q = producer(name, P);
    const a = start('kill-1', name, P);
    const b = start('kill-2', name, P);
    await waitFor(() => lastPartitions(a).length === 2 && lastPartitions(b).length === 2, {
      timeout: 20_000,
      message: 'a 2/2 split',
    });
    const key = 'victim-key';
    await q.add('j', { key, seq: 0, holdMs: 60_000 }, { partitionKey: key });
    await q.add('j', { key, seq: 1 }, { partitionKey: key });
    await q.add('j', { key, seq: 2 }, { partitionKey: key });
    const first = await waitFor(
      () => [a, b].find((c) => c.messages.some((m) => m.type === 'start' && m.seq === 0)),
      { message: 'the first job to start' },
    );
    const survivor = first === a ? b : a;
    const killedAt = performance.timeOrigin + performance.now();
    first.kill('SIGKILL');
    await first.exited;
    const again: ChildMessage = await survivor.waitFor(
      (m) => m.type === 'start' && m.seq === 0,
      TTL + 5000,
      'the killed job to restart',
    );
    const recoveryMs = again.t - killedAt;
    console.log(
      `SIGKILL mid-job: job restarted on the survivor ${recoveryMs.toFixed(0)} ms after the kill (TTL ${TTL} ms)`,
    );
    expect(recoveryMs).toBeLessThan(TTL + 3000);
    await survivor.waitFor((m) => m.type === 'end' && m.seq === 2, 10_000, 'the last job');
    const p = q.partitionFor(key);
    const inPartition = survivor.messages
      .filter((m) => m.type === 'start' && m.partition === p)
      .map((m) => m.seq);
    expect(inPartition).toEqual([0, 1, 2]);
    expect(survivor.messages.some((m) => m.type === 'recovered' && m.partition === p)).toBe(true);
  });

  it('on lease loss (SIGSTOP past the TTL) aborts the job; the next owner runs it first, completes it once', async () => {
    const name = 'lost';
    const P = 2;
    const q = producer(name, P);
    const a = start('lost-1', name, P);
    const b = start('lost-2', name, P);
    await waitFor(() => lastPartitions(a).length === 1 && lastPartitions(b).length === 1, {
      timeout: 20_000,
      message: 'a 1/1 split',
    });
    const key = 'paused-key';
    const first = await q.add('j', { key, seq: 0, holdMs: 60_000 }, { partitionKey: key });
    await q.add('j', { key, seq: 1 }, { partitionKey: key });
    const holder = await waitFor(
      () => [a, b].find((c) => c.messages.some((m) => m.type === 'start' && m.seq === 0)),
      { message: 'the first job to start' },
    );
    const other = holder === a ? b : a;
    holder.kill('SIGSTOP');
    const stoppedAt = performance.timeOrigin + performance.now();
    const again = await other.waitFor(
      (m) => m.type === 'start' && m.seq === 0,
      TTL + 5000,
      'the job to restart on the other process',
    );
    expect(again.t - stoppedAt).toBeLessThan(TTL + 3000);
    const resumedAt = performance.timeOrigin + performance.now();
    holder.kill('SIGCONT');
    const aborted = await holder.waitFor(
      (m) => m.type === 'aborted' && m.seq === 0,
      5000,
      'the paused job to be aborted',
    );
    expect(aborted.code).toBe('LEASE_LOST');
    expect(aborted.t - resumedAt).toBeLessThan(1500);
    await other.waitFor((m) => m.type === 'end' && m.seq === 1, 10_000, 'the next job');
    const p = q.partitionFor(key);
    expect(other.messages.filter((m) => m.type === 'start' && m.partition === p).map((m) => m.seq)).toEqual([
      0, 1,
    ]);
    const job = await q.queue(p).getJob(first.id!);
    expect(await job!.getState()).toBe('completed');
    expect(job!.processedBy).toBe(other === a ? 'lost-1' : 'lost-2');
    expect(job!.returnvalue).toBe(0);
    expect(holder.messages.some((m) => m.type === 'end' && m.seq === 0)).toBe(false);
  });
});
