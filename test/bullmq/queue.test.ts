/** PartitionedQueue against the real Redis: routing, bulk grouping, refused options, the count record. */
import { Queue } from 'bullmq';
import { partitionCountKey, PartitionedQueue } from 'dbleases/bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REDIS_URL, uniqueName } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniqueName('bullmq-queue', 'bq');
let redis: Redis;
const opened: PartitionedQueue[] = [];

function queue(
  name: string,
  partitions: number,
  extra: Partial<ConstructorParameters<typeof PartitionedQueue>[1]> = {},
): PartitionedQueue {
  const q = new PartitionedQueue(name, { partitions, connection: redis, prefix, ...extra });
  opened.push(q);
  return q;
}

beforeAll(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await Promise.all(opened.map((q) => q.close()));
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
});

describe('PartitionedQueue', () => {
  it('routes add() by the key hash into `<name>-<p>` and strips partitionKey from the job options', async () => {
    const q = queue('route', 8);
    const job = await q.add('charge', { n: 1 }, { partitionKey: 'customer-42', attempts: 3 });
    const p = q.partitionFor('customer-42');
    expect(q.queueName(p)).toBe(`route-${p}`);
    expect(job.queueName).toBe(`route-${p}`);
    expect(job.opts).not.toHaveProperty('partitionKey');
    expect(job.opts.attempts).toBe(3);
    const stored = await new Queue(`route-${p}`, { connection: redis, prefix }).getWaiting();
    expect(stored.map((j) => j.id)).toEqual([job.id]);
  });

  it('addBulk groups by partition, keeps per-partition order and returns jobs in input order', async () => {
    const q = queue('bulk', 4);
    const input = Array.from({ length: 200 }, (_, i) => ({
      name: 'j',
      data: { i, key: `k${i % 13}` },
      opts: { partitionKey: `k${i % 13}` },
    }));
    const jobs = await q.addBulk(input);
    expect(jobs.map((j) => (j.data as { i: number }).i)).toEqual(input.map((j) => j.data.i));
    // The returned jobs carry the ids Redis gave them, in their own partition queues.
    for (const job of [jobs[0]!, jobs[77]!, jobs[199]!]) {
      const stored = await q.queue(q.partitionFor((job.data as { key: string }).key)).getJob(job.id!);
      expect(stored?.data).toEqual(job.data);
    }
    for (let p = 0; p < 4; p++) {
      // getWaiting lists the oldest (next to run) first.
      const waiting = (await q.queue(p).getWaiting(0, -1)).map((j) => (j.data as { i: number }).i);
      const expected = input.filter((j) => q.partitionFor(j.opts.partitionKey) === p).map((j) => j.data.i);
      expect(waiting).toEqual(expected);
    }
  });

  it('refuses delay, priority and lifo when ordered, with the option, value and what is allowed', async () => {
    const q = queue('refuse', 4);
    await expect(q.add('x', {}, { partitionKey: 'a', delay: 500 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(
        /`opts\.delay` is `500` \(number\).*allows only `delay: 0` or no delay.*ordered: false/,
      ),
    });
    await expect(q.add('x', {}, { partitionKey: 'a', priority: 3 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('`opts.priority` is `3` (number)'),
    });
    await expect(q.add('x', {}, { partitionKey: 'a', lifo: true })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('`opts.lifo` is `true` (boolean)'),
    });
    await expect(
      q.addBulk([
        { name: 'x', data: {}, opts: { partitionKey: 'a' } },
        { name: 'x', data: {}, opts: { partitionKey: 'b', delay: 1 } },
      ]),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('`jobs[1].opts.delay`'),
    });
    expect(await q.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 0 }); // nothing half-sent
    expect(
      () =>
        new PartitionedQueue('refuse2', {
          partitions: 4,
          connection: redis,
          prefix,
          defaultJobOptions: { lifo: true },
        }),
    ).toThrow(/`defaultJobOptions.lifo`/);
    await expect(
      q.add('x', {}, { partitionKey: 'a', delay: 0, priority: 0, lifo: false }),
    ).resolves.toBeDefined();
    await expect(q.add('x', {}, { partitionKey: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(q.add('x', {}, undefined as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    const unordered = queue('unordered', 4, { ordered: false });
    const delayed = await unordered.add('x', {}, { partitionKey: 'a', delay: 60_000, priority: 2 });
    expect(await delayed.getState()).toBe('delayed');
  });

  it('records the partition count and refuses a different one', async () => {
    const q = queue('count', 16);
    await q.add('x', {}, { partitionKey: 1 });
    expect(await redis.get(partitionCountKey(prefix, 'count'))).toBe('16');
    const other = queue('count', 32);
    await expect(other.add('x', {}, { partitionKey: 1 })).rejects.toMatchObject({
      code: 'PARTITION_COUNT_MISMATCH',
      message: expect.stringContaining('has 16 partitions'),
    });
    await expect(queue('count', 16).waitUntilReady()).resolves.toBeUndefined();
  });

  it("caps each partition queue's events stream so that all of them together hold about one queue's worth", async () => {
    const meta = async (q: PartitionedQueue, p: number) => {
      await q.add('j', {}, { partitionKey: `k${p}` });
      const bull = q.queue(q.partitionFor(`k${p}`));
      await bull.waitUntilReady();
      await waitFor(
        async () => (await redis.hget(`${prefix}:${bull.name}:meta`, 'opts.maxLenEvents')) !== null,
      );
      return Number(await redis.hget(`${prefix}:${bull.name}:meta`, 'opts.maxLenEvents'));
    };
    expect(await meta(queue('events16', 16), 1)).toBe(625);
    expect(await meta(queue('events1024', 1024), 2)).toBe(100);
    expect(await meta(queue('events-own', 4, { maxLenEvents: 7 }), 3)).toBe(7);
    expect(() => queue('events-bad', 4, { maxLenEvents: 0 })).toThrow(
      /`maxLenEvents` to be an integer ≥ 1, got `0`/,
    );
  });

  it('validates its arguments', () => {
    expect(() => queue('a:b', 4)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => queue('ok', 0)).toThrow(
      'Expected `partitions` to be an integer from 1 to 65536, got `0` (number)',
    );
    expect(() => queue('ok', 4, { connection: 'redis://x' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => queue('ok', 4).queueName(4)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(queue('ok', 4, { cluster: true }).queueName(3)).toBe('{ok-3}');
  });
});
