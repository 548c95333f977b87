/**
 * The Redis backend of `QueueSource`: reads BullMQ's keys straight, pipelined (`<prefix>:<queue>:wait|
 * paused|active` are lists, `prioritized|delayed|failed|completed` sorted sets, `<id>` the job hash).
 * Read-only: no BullMQ script runs, nothing is created. With an ioredis Cluster, one pipeline per
 * queue (each queue's keys share its hash tag).
 */
import type { Redis, RedisOptions } from 'ioredis';

import { partitionCountKey } from '../bullmq/names.js';
import { DbleasesError } from '../errors.js';
import type { FailedJob, QueueSample, QueueSource, RunningJob } from './queue-source.js';
import type { QueueCounts, RedisConnection } from './types.js';

export type { QueueSource, QueueTarget } from './queue-source.js';

type Pipeline = ReturnType<Redis['pipeline']>;
type Reply = [Error | null, unknown];

/** Completions read per queue and sample at most; the rest are counted by the next sample. */
const COMPLETIONS_PER_SAMPLE = 1000;
const JOB_FIELDS = [
  'name',
  'timestamp',
  'delay',
  'processedOn',
  'finishedOn',
  'ats',
  'atm',
  'pb',
  'failedReason',
];

const isRedisInstance = (v: unknown): v is Redis =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { pipeline?: unknown }).pipeline === 'function' &&
  'status' in v;

const num = (v: unknown): number => Number(v) || 0;
const numOrNull = (v: unknown): number | null =>
  v === null || v === undefined || v === '' ? null : Number(v);

async function connect(connection: RedisConnection): Promise<{ redis: Redis; owned: boolean }> {
  if (isRedisInstance(connection)) return { redis: connection, owned: false };
  let IORedis: typeof import('ioredis').Redis;
  try {
    IORedis = (await import('ioredis')).Redis;
  } catch (cause) {
    throw new DbleasesError(
      'REDIS_UNREACHABLE',
      'The dashboard needs the `ioredis` package for `connection` options: npm install ioredis',
      { cause },
    );
  }
  const redis = new IORedis({
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    lazyConnect: false,
    ...(connection as RedisOptions),
  });
  // Connection errors surface on the next read as a rejected promise; keep ioredis from logging them.
  redis.on('error', () => {});
  return { redis, owned: true };
}

/** Wraps an ioredis instance (kept open) or creates one from options (closed by `close()`). */
export async function createQueueReader(connection: RedisConnection, prefix: string): Promise<QueueSource> {
  const { redis, owned } = await connect(connection);
  const cluster = (redis as { isCluster?: boolean }).isCluster === true;
  const key = (queue: string, name: string) => `${prefix}:${queue}:${name}`;

  /** Runs `build` for each queue in one pipeline (one per queue in a cluster); replies per queue. */
  async function perQueue(
    queues: string[],
    build: (p: Pipeline, queue: string, i: number) => void,
  ): Promise<Reply[][]> {
    if (queues.length === 0) return [];
    if (cluster) {
      return Promise.all(
        queues.map(async (q, i) => {
          const p = redis.pipeline();
          build(p, q, i);
          return ((await p.exec()) ?? []) as Reply[];
        }),
      );
    }
    const p = redis.pipeline();
    const sizes: number[] = [];
    queues.forEach((q, i) => {
      const before = p.length;
      build(p, q, i);
      sizes.push(p.length - before);
    });
    const flat = ((await p.exec()) ?? []) as Reply[];
    let at = 0;
    return sizes.map((n) => flat.slice(at, (at += n)));
  }
  const value = (r: Reply | undefined): unknown => {
    if (!r) return null;
    if (r[0]) throw r[0];
    return r[1];
  };

  const countCommands = (p: Pipeline, q: string) => {
    for (const list of ['wait', 'paused', 'active']) p.llen(key(q, list));
    for (const set of ['prioritized', 'delayed', 'failed']) p.zcard(key(q, set));
  };
  const toCounts = (r: Reply[]): QueueCounts => {
    const n = (i: number) => num(value(r[i]));
    // wait, paused, active, prioritized, delayed, failed
    return { waiting: n(0) + n(1) + n(3), active: n(2), delayed: n(4), failed: n(5) };
  };

  /** Per queue: the highest finishedOn score already counted (completed, failed). */
  const marks = new Map<string, { completed: number | null; failed: number | null }>();
  /** Per queue: the head job seen last, and when it became waitable. */
  const heads = new Map<string, { id: string; since: number | null }>();

  const readJobs = async (queue: string, ids: string[]) =>
    (await perQueue([queue], (p) => ids.forEach((id) => p.hmget(key(queue, id), ...JOB_FIELDS))))[0] ?? [];
  const fields = (r: Reply | undefined): (string | null)[] => (value(r) as (string | null)[] | null) ?? [];

  return {
    async recorded(leases) {
      if (leases.length === 0) return new Set();
      const keys = leases.map((name) => partitionCountKey(prefix, name));
      // One EXISTS per key: in a cluster the keys live in different slots.
      const found = await Promise.all(keys.map((k) => redis.exists(k)));
      return new Set(leases.filter((_l, i) => found[i] === 1));
    },

    async counts(targets) {
      return (
        await perQueue(
          targets.map((t) => t.queue),
          countCommands,
        )
      ).map(toCounts);
    },

    async sample(targets) {
      const queues = targets.map((t) => t.queue);
      const replies = await perQueue(queues, (p, q) => {
        countCommands(p, q);
        p.lindex(key(q, 'wait'), -1); // the next job: BullMQ takes from the right end
        p.zrange(key(q, 'prioritized'), 0, 0); // then the highest priority, when wait is empty
        p.lindex(key(q, 'paused'), -1);
        const m = marks.get(q);
        for (const set of ['completed', 'failed'] as const) {
          const mark = m?.[set];
          if (mark === undefined || mark === null) p.zrange(key(q, set), -1, -1, 'WITHSCORES');
          else
            p.zrangebyscore(
              key(q, set),
              `(${mark}`,
              '+inf',
              'WITHSCORES',
              'LIMIT',
              0,
              COMPLETIONS_PER_SAMPLE,
            );
        }
      });
      const out: QueueSample[] = [];
      const unknownHeads: { i: number; queue: string; id: string }[] = [];
      replies.forEach((r, i) => {
        const q = queues[i] as string;
        const counts = toCounts(r);
        const headId = ((value(r[6]) as string | null) ??
          (value(r[7]) as string[] | null)?.[0] ??
          (value(r[8]) as string | null) ??
          null) as string | null;
        const m = marks.get(q);
        const moved = (set: 'completed' | 'failed', reply: Reply | undefined) => {
          const flat = (value(reply) as string[] | null) ?? [];
          const first = m?.[set] === undefined || m?.[set] === null;
          let max = m?.[set] ?? null;
          for (let k = 1; k < flat.length; k += 2) max = Math.max(max ?? -Infinity, Number(flat[k]));
          return { n: first ? 0 : flat.length / 2, max: max ?? (first ? 0 : null) };
        };
        const c = moved('completed', r[9]);
        const f = moved('failed', r[10]);
        marks.set(q, { completed: c.max, failed: f.max });
        const known = heads.get(q);
        let headSince: number | null = null;
        if (headId === null) heads.delete(q);
        else if (known?.id === headId) headSince = known.since;
        else unknownHeads.push({ i, queue: q, id: headId });
        out.push({ ...counts, headId, headSince, completed: c.n, failed: f.n });
      });
      if (unknownHeads.length > 0) {
        const hashes = await perQueue(
          unknownHeads.map((h) => h.queue),
          (p, q, j) => p.hmget(key(q, unknownHeads[j]?.id as string), 'timestamp', 'delay'),
        );
        unknownHeads.forEach((h, j) => {
          const [ts, delay] = fields(hashes[j]?.[0]);
          const since = ts ? num(ts) + num(delay) : null;
          heads.set(h.queue, { id: h.id, since });
          (out[h.i] as QueueSample).headSince = since;
        });
      }
      return out;
    },

    async partition(target) {
      const q = target.queue;
      const [r = []] = await perQueue([q], (p) => {
        countCommands(p, q);
        p.lrange(key(q, 'active'), 0, 19);
        p.zrevrange(key(q, 'failed'), 0, 9);
        p.lindex(key(q, 'wait'), -1);
        p.pttl(key(q, 'limiter'));
      });
      const active = (value(r[6]) as string[] | null) ?? [];
      const failedIds = (value(r[7]) as string[] | null) ?? [];
      const nextId = value(r[8]) as string | null;
      const pttl = num(value(r[9]));
      const jobs = await readJobs(q, [...active, ...failedIds, ...(nextId ? [nextId] : [])]);
      const at = (i: number) => {
        const [name, timestamp, delay, processedOn, finishedOn, ats, atm, pb, failedReason] = fields(jobs[i]);
        return { name, timestamp, delay, processedOn, finishedOn, ats, atm, pb, failedReason };
      };
      const running: RunningJob[] = active
        .map((id, i) => {
          const j = at(i);
          return {
            id,
            name: j.name ?? '',
            startedAt: numOrNull(j.processedOn),
            attempt: Math.max(num(j.ats), num(j.atm) + 1),
            worker: j.pb ?? null,
          };
        })
        .reverse(); // the active list grows on the left: oldest first
      const failures: FailedJob[] = failedIds.map((id, k) => {
        const j = at(active.length + k);
        return {
          id,
          name: j.name ?? '',
          failedAt: numOrNull(j.finishedOn),
          attempts: num(j.atm),
          reason: j.failedReason ?? '',
        };
      });
      let next = null;
      if (nextId) {
        const j = at(active.length + failedIds.length);
        next = {
          id: nextId,
          name: j.name ?? '',
          since: j.timestamp ? num(j.timestamp) + num(j.delay) : null,
          attempts: num(j.atm),
          lastError: j.failedReason || null,
        };
      }
      return {
        queue: q,
        counts: toCounts(r),
        running,
        failures,
        next,
        backoffUntil: pttl > 0 ? Date.now() + pttl : null,
      };
    },

    async close() {
      if (!owned) return;
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
