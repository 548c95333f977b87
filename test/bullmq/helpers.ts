import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';

import { testSchema } from '../helpers/db.js';
import { REDIS_URL, uniqueName } from '../helpers/env.js';

export function redisClient(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}

/** Deletes every key under `prefix:` (test cleanup; SCAN, never KEYS). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** A promise with its resolve function, to hold a job until the test lets it go. */
export function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

export interface BullmqTestEnv {
  /** This file's Redis key prefix. */
  readonly prefix: string;
  /** This file's schema and pool (set in beforeAll). */
  db: Awaited<ReturnType<typeof testSchema>>;
  /** A shared worker-grade connection (set in beforeAll). */
  redis: Redis;
  /** Run after each test, last in first out, whatever failed: close what the test opened. */
  readonly cleanup: Array<() => Promise<unknown>>;
}

/**
 * The environment of one BullMQ test file: its own schema, Redis prefix and connection, and a cleanup
 * list run after every test. Registers the hooks; drops the schema and deletes the keys at the end.
 */
export function bullmqTestEnv(seed: string, tag: string): BullmqTestEnv {
  const env = { prefix: uniqueName(seed, tag), cleanup: [] } as unknown as BullmqTestEnv;
  beforeAll(async () => {
    env.db = await testSchema(seed);
    env.redis = redisClient();
  });
  afterEach(async () => {
    for (const fn of env.cleanup.splice(0).reverse()) await fn().catch(() => undefined);
  });
  afterAll(async () => {
    await deletePrefix(env.redis, env.prefix);
    await env.redis.quit();
    await env.db.drop();
  });
  return env;
}
