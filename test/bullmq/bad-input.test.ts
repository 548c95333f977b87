/**
 * Bad input on the BullMQ/Redis side, beyond what queue.test.ts, worker.test.ts and hash.test.ts
 * cover: partition keys through add/addBulk (and nothing half-sent), a worker-recorded partition count
 * a producer contradicts, unreachable Redis, processors that throw non-Error values or never end.
 * Each case: a clear error (code + message), and nothing left behind.
 */
import net from 'node:net';

import type { Job } from 'bullmq';
import { createClient, type LeaseClient } from 'dbleases';
import { PartitionedQueue, PartitionedWorker, type PartitionedWorkerOptions } from 'dbleases/bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { testSchema } from '../helpers/db.js';
import { uniqueName } from '../helpers/env.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { deletePrefix, redisClient } from './helpers.js';

const TTL = 1000;
const HB = 250;
const prefix = uniqueName('bullmq-bad-input', 'bb');
let db: Awaited<ReturnType<typeof testSchema>>;
let redis: Redis;
const cleanup: Array<() => Promise<unknown>> = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  db = await testSchema('bullmq-bad-input');
  redis = redisClient();
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
  expect(unhandled.splice(0)).toEqual([]);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await deletePrefix(redis, prefix);
  await redis.quit();
  await db.drop();
});

async function client(id: string, extra: { drainTimeout?: number } = {}): Promise<LeaseClient> {
  const c = await createClient(db.pool, id, { schema: db.schema, ttl: TTL, heartbeat: HB, ...extra });
  cleanup.push(() => c.close());
  return c;
}

function producer(
  name: string,
  partitions: number,
  extra: Partial<ConstructorParameters<typeof PartitionedQueue>[1]> = {},
): PartitionedQueue {
  const q = new PartitionedQueue(name, { partitions, connection: redis, prefix, ...extra });
  cleanup.push(() => q.close());
  return q;
}

function worker<D, R>(
  name: string,
  processor: (job: Job<D, R>, token?: string, signal?: AbortSignal) => Promise<R>,
  options: Omit<PartitionedWorkerOptions, 'connection'> &
    Partial<Pick<PartitionedWorkerOptions, 'connection'>>,
): PartitionedWorker<D, R> {
  const w = new PartitionedWorker<D, R>(name, processor, { connection: redis, prefix, ...options });
  cleanup.push(() => w.close());
  return w;
}

/** Redis keys of queue `name` (its partition queues and its recorded count). */
async function keysOf(name: string): Promise<string[]> {
  const [, a] = await redis.scan('0', 'MATCH', `${prefix}:${name}-*`, 'COUNT', 10_000);
  const [, b] = await redis.scan('0', 'MATCH', `${prefix}:dbleases:${name}:*`, 'COUNT', 10_000);
  return [...a, ...b];
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Resolves to 'pending' if `promise` has not settled after `ms`: a deadline on a close that must not
 * hang (it returns as soon as the promise settles), not a wait for state.
 */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

describe('partition keys through add() and addBulk()', () => {
  const bad: [string, unknown, string][] = [
    ['missing', undefined, '`undefined` (undefined)'],
    ['empty', '', '`""` (string)'],
    ['an object', { id: 1 }, '`{"id":1}` (object)'],
    ['NaN', NaN, '`NaN` (number)'],
    ['null', null, '`null` (null)'],
    ['an array', ['a'], '`["a"]` (array)'],
  ];

  it.each(bad)('refuses a key that is %s, names it, and sends nothing', async (_case, key, shown) => {
    const name = `key-${_case.replace(/\W/g, '')}`;
    const q = producer(name, 4);
    const opts = (key === undefined ? {} : { partitionKey: key }) as never;
    const message = `Expected \`partitionKey\` to be a non-empty string or a finite number, got ${shown}`;
    await expect(q.add('j', {}, opts)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message });
    // One bad job in a bulk: validated before anything is sent, so the good one is not added either.
    await expect(
      q.addBulk([
        { name: 'j', data: {}, opts: { partitionKey: 'good' } },
        { name: 'j', data: {}, opts },
      ]),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message,
    });
    expect(await keysOf(name)).toEqual([]);
  });
});

describe('partition counts', () => {
  it('a worker records the count first; a producer with another count is refused and adds nothing', async () => {
    const c = await client('count-1');
    const w = worker('wfirst', async () => undefined, { client: c, partitions: 8 });
    await w.waitUntilReady();
    const q = producer('wfirst', 16);
    await expect(q.add('j', {}, { partitionKey: 'a' })).rejects.toMatchObject({
      code: 'PARTITION_COUNT_MISMATCH',
      message: expect.stringMatching(
        /Queue `wfirst` has 8 partitions .* created with `partitions: 16`.*drain-and-switch/,
      ),
    });
    await expect(q.addBulk([{ name: 'j', data: {}, opts: { partitionKey: 'a' } }])).rejects.toMatchObject({
      code: 'PARTITION_COUNT_MISMATCH',
    });
    const counts = await producer('wfirst', 8).getJobCounts('waiting', 'active', 'completed');
    expect(counts).toEqual({ waiting: 0, active: 0, completed: 0 });
  });
});

describe('unreachable Redis', () => {
  it('a producer on a shared client (maxRetriesPerRequest: 1) gets REDIS_UNREACHABLE at once', async () => {
    const dead = new Redis({
      host: '127.0.0.1',
      port: await closedPort(),
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    });
    const redisErrors: Error[] = [];
    dead.on('error', (e) => redisErrors.push(e));
    cleanup.push(async () => dead.disconnect());
    const q = new PartitionedQueue('down', { partitions: 4, connection: dead, prefix });
    cleanup.push(() => within(q.close(), 2000));
    const t0 = performance.now();
    await expect(q.add('j', {}, { partitionKey: 'a' })).rejects.toMatchObject({
      code: 'REDIS_UNREACHABLE',
      message: 'Could not check the partition count of `down` in Redis',
      cause: expect.objectContaining({ message: expect.stringMatching(/max retries per request/) }),
    });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(redisErrors.length).toBeGreaterThan(0); // ECONNREFUSED went to the client's 'error' event
  });

  it('a producer given connection options gets REDIS_UNREACHABLE within 3 s, and its next add tries again', async () => {
    const q = new PartitionedQueue('down2', {
      partitions: 4,
      connection: { host: '127.0.0.1', port: await closedPort() },
      prefix,
    });
    cleanup.push(() => within(q.close(), 2000));
    const t0 = performance.now();
    await expect(q.add('j', {}, { partitionKey: 'a' })).rejects.toMatchObject({
      code: 'REDIS_UNREACHABLE',
      message: expect.stringContaining('`down2`'),
    });
    expect(performance.now() - t0).toBeLessThan(3000);
    await expect(q.addBulk([{ name: 'j', data: {}, opts: { partitionKey: 'a' } }])).rejects.toMatchObject({
      code: 'REDIS_UNREACHABLE',
    });
    await expect(within(q.close(), 2000)).resolves.toBeUndefined();
  });

  it.each(['a shared client', 'connection options'])(
    'a worker on %s that cannot reach Redis: REDIS_UNREACHABLE within 3 s, never joins the lease, closes at once',
    async (how) => {
      const id = `down-${how.replace(/\W/g, '')}`;
      const name = `q${id}`;
      const c = await client(id);
      const port = await closedPort();
      let connection: PartitionedWorkerOptions['connection'] = { host: '127.0.0.1', port };
      if (how === 'a shared client') {
        const dead = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
        dead.on('error', () => {});
        cleanup.push(async () => dead.disconnect());
        connection = dead;
      }
      const w = new PartitionedWorker(name, async () => undefined, {
        client: c,
        partitions: 4,
        connection,
        prefix,
      });
      const errors: Error[] = [];
      w.on('error', (e) => errors.push(e));
      const t0 = performance.now();
      await expect(w.waitUntilReady()).rejects.toMatchObject({
        code: 'REDIS_UNREACHABLE',
        message: expect.stringContaining(`\`${name}\``),
      });
      expect(performance.now() - t0).toBeLessThan(3000);
      expect(errors).toContainEqual(expect.objectContaining({ code: 'REDIS_UNREACHABLE' }));
      // The partition count is checked before the lease is joined: nothing was taken.
      expect(w.lease).toBeUndefined();
      expect(w.partitions()).toEqual([]);
      const members = await db.pool.query(
        `SELECT count(*)::int AS n FROM "${db.schema}".db_leases_members WHERE lease_name = $1`,
        [name],
      );
      expect(members.rows[0].n).toBe(0);
      await expect(within(w.close(), 2000)).resolves.toBeUndefined();
    },
  );
});

describe('processors that misbehave', () => {
  const thrown: [string, unknown, string][] = [
    ['a string', 'boom', 'boom'],
    ['undefined', undefined, 'undefined'],
    ['a plain object', { code: 42 }, 'Non-Error thrown: {"code":42}'],
  ];

  it.each(thrown)(
    'ordered: a processor throwing %s fails the job with an Error, and the partition moves on',
    async (_case, value, reason) => {
      const name = `throw-${_case.replace(/\W/g, '')}`;
      const c = await client(`${name}-c`);
      const q = producer(name, 1);
      const w = worker<{ n: number }, number>(
        name,
        async (job) => {
          if (job.data.n === 1) throw value;
          return job.data.n;
        },
        { client: c, partitions: 1 },
      );
      const errors: Error[] = [];
      w.on('error', (e) => errors.push(e));
      const failed = nextEvent<[Job | undefined, Error, number, boolean]>(w, 'failed');
      const completed = nextEvent<[Job, number, number]>(w, 'completed');
      await q.add('j', { n: 1 }, { partitionKey: 'k', attempts: 1 });
      await q.add('j', { n: 2 }, { partitionKey: 'k' });
      const [job, error, partition, willRetry] = await failed;
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toBe(reason);
      expect([partition, willRetry]).toEqual([0, false]);
      expect(await job!.getState()).toBe('failed');
      const [next] = await completed;
      expect(next.data).toEqual({ n: 2 });
      expect(errors).toEqual([]);
    },
  );

  /** Unordered mode: the thrown value goes to BullMQ as is. */
  async function unordered(value: unknown, tag: string) {
    const name = `uthrow-${tag}`;
    const c = await client(`${name}-c`);
    const q = producer(name, 1, { ordered: false });
    const w = worker<{ n: number }, number>(
      name,
      async (job) => {
        if (job.data.n === 1) throw value;
        return job.data.n;
      },
      { client: c, partitions: 1, ordered: false },
    );
    const errors: Error[] = [];
    w.on('error', (e) => errors.push(e));
    const failed = nextEvent<[Job | undefined, Error, number, boolean]>(w, 'failed', { timeout: 3000 }).catch(
      () => undefined,
    );
    const first = await q.add('j', { n: 1 }, { partitionKey: 'k', attempts: 1 });
    return { q, first, failed, errors };
  }

  it.each([
    ['a string', 'boom'],
    ['a plain object', { code: 42 }],
  ])('unordered: a processor throwing %s fails the job (BullMQ semantics)', async (_case, value) => {
    const { q, first, failed, errors } = await unordered(value, _case.replace(/\W/g, ''));
    const event = await failed;
    expect(event?.[0]?.id).toBe(first.id);
    expect(await q.queue(0).getJobState(first.id!)).toBe('failed');
    expect(errors).toEqual([]);
  });

  it('unordered: a processor throwing a string keeps it as the failed reason', async () => {
    const { q, first, failed } = await unordered('boom', 'reason');
    await failed;
    expect((await q.queue(0).getJob(first.id!))?.failedReason).toBe('boom');
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
  ])('unordered: a processor throwing %s fails the job at once with an Error', async (_case, value) => {
    const { q, first, failed, errors } = await unordered(value, _case);
    const event = await failed;
    expect(event?.[1]).toBeInstanceOf(Error);
    expect(event?.[1].message).toBe(_case);
    expect(await q.queue(0).getJobState(first.id!)).toBe('failed');
    expect(errors).toEqual([]);
  });

  it('a processor that never resolves and ignores its signal: close() ends after drainTimeout + forceCloseAfter, no Worker left', async () => {
    const name = 'never';
    const c = await createClient(db.pool, 'never-1', {
      schema: db.schema,
      ttl: TTL,
      heartbeat: HB,
      drainTimeout: 200,
    });
    cleanup.push(() => c.close());
    const q = producer(name, 2);
    const started: number[] = [];
    const w = worker<{ n: number }, void>(
      name,
      async (job) => {
        started.push(job.data.n);
        await new Promise<never>(() => {}); // never settles
      },
      { client: c, partitions: 2, forceCloseAfter: 100 },
    );
    w.on('error', () => {});
    await nextEvent(w, 'assigned', { filter: () => w.partitions().length === 2 });
    await q.add('j', { n: 1 }, { partitionKey: 'k' });
    await waitFor(() => started.length === 1, { message: 'the job to start' });
    const workerClients = async () =>
      ((await redis.client('LIST')) as string).split('\n').filter((l) => l.includes(':w:never-1')).length;
    expect(await workerClients()).toBeGreaterThan(0);
    const t0 = performance.now();
    await c.close();
    await w.close();
    expect(performance.now() - t0).toBeLessThan(200 + 100 + 1500);
    expect(w.partitions()).toEqual([]);
    await waitFor(async () => (await workerClients()) === 0, {
      timeout: 5000,
      message: "the Workers' Redis connections to close",
    });
    // The lease let go too: no partition is left owned by the closed client.
    const owned = await db.pool.query(
      `SELECT count(*)::int AS n FROM "${db.schema}".db_leases_partitions WHERE owner = 'never-1'`,
    );
    expect(owned.rows[0].n).toBe(0);
  });
});
