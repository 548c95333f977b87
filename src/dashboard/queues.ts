/**
 * Job counts of the BullMQ partition queues, read straight from BullMQ's keys in one pipelined round
 * trip for every partition (`<prefix>:<queue>:wait|paused|active` are lists, `prioritized|delayed|failed`
 * sorted sets). Read-only: no BullMQ script runs, nothing is created. With an ioredis Cluster, one
 * pipeline per queue (each queue's keys share its hash tag).
 */
import type { Redis, RedisOptions } from 'ioredis';

import { partitionCountKey } from '../bullmq/names.js';
import { DbleasesError } from '../errors.js';
import type { QueueCounts } from './types.js';

const LISTS = ['wait', 'paused', 'active'] as const;
const SETS = ['prioritized', 'delayed', 'failed'] as const;

export interface QueueTarget {
  lease: string;
  partition: number;
  queue: string;
}

export interface QueueReader {
  /** Counts per target, in order. */
  counts(targets: QueueTarget[]): Promise<QueueCounts[]>;
  /** Which of these leases have a partition count recorded by `dbleases/bullmq` (their queues exist). */
  recorded(leases: string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

const isRedisInstance = (v: unknown): v is Redis =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { pipeline?: unknown }).pipeline === 'function' &&
  'status' in v;

/** Wraps an ioredis instance (kept open) or creates one from options (closed by `close()`). */
export async function createQueueReader(
  connection: Redis | RedisOptions,
  prefix: string,
): Promise<QueueReader> {
  let redis: Redis;
  let owned = false;
  if (isRedisInstance(connection)) {
    redis = connection;
  } else {
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
    redis = new IORedis({
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      lazyConnect: false,
      ...connection,
    });
    // Connection errors surface on the next read as a rejected promise; keep ioredis from logging them.
    redis.on('error', () => {});
    owned = true;
  }
  const cluster = (redis as { isCluster?: boolean }).isCluster === true;
  const queueCommands = (pipeline: ReturnType<Redis['pipeline']>, queue: string) => {
    const base = `${prefix}:${queue}:`;
    for (const list of LISTS) pipeline.llen(base + list);
    for (const set of SETS) pipeline.zcard(base + set);
  };
  return {
    async recorded(leases) {
      if (leases.length === 0) return new Set();
      const keys = leases.map((name) => partitionCountKey(prefix, name));
      // One EXISTS per key: in a cluster the keys live in different slots.
      const found = await Promise.all(keys.map((k) => redis.exists(k)));
      return new Set(leases.filter((_l, i) => found[i] === 1));
    },
    async counts(targets) {
      if (targets.length === 0) return [];
      let replies: [Error | null, unknown][];
      if (cluster) {
        // A pipeline must stay within one slot: one per queue (its keys share the queue's hash tag).
        const per = await Promise.all(
          targets.map(async ({ queue }) => {
            const p = redis.pipeline();
            queueCommands(p, queue);
            return (await p.exec()) ?? [];
          }),
        );
        replies = per.flat();
      } else {
        const pipeline = redis.pipeline();
        for (const { queue } of targets) queueCommands(pipeline, queue);
        replies = (await pipeline.exec()) ?? [];
      }
      const per = LISTS.length + SETS.length;
      return targets.map((_t, i) => {
        const n = (k: number): number => {
          const reply = replies[i * per + k];
          if (!reply) return 0;
          if (reply[0]) throw reply[0];
          return Number(reply[1]) || 0;
        };
        // wait, paused, active, prioritized, delayed, failed
        return { waiting: n(0) + n(1) + n(3), active: n(2), delayed: n(4), failed: n(5) };
      });
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
