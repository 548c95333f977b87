import type { Cluster, Redis } from 'ioredis';

import { DbleasesError } from '../errors.js';
import { mismatch, partitionCountKey } from './names.js';

/** Default `readyTimeout` of queues and workers, in ms. */
export const DEFAULT_READY_TIMEOUT = 2_000;

/**
 * Records the partition count of a queue name on first use and checks it afterwards, atomically in
 * one round trip (`SET key n NX GET`, Redis ≥ 7). Rejects with `PARTITION_COUNT_MISMATCH`, or with
 * `REDIS_UNREACHABLE` when the command fails or Redis does not answer within `timeoutMs`.
 */
export async function ensurePartitionCount(
  redis: Redis | Cluster,
  prefix: string,
  name: string,
  partitions: number,
  timeoutMs: number,
): Promise<void> {
  const key = partitionCountKey(prefix, name);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let previous: unknown;
  try {
    previous = await Promise.race([
      redis.call('SET', key, String(partitions), 'NX', 'GET'),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new DbleasesError(
                'REDIS_UNREACHABLE',
                `Could not check the partition count of \`${name}\` in Redis: no answer within ${timeoutMs} ms (\`readyTimeout\`)`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    if (error instanceof DbleasesError) throw error;
    throw new DbleasesError(
      'REDIS_UNREACHABLE',
      `Could not check the partition count of \`${name}\` in Redis`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
  if (previous !== null && String(previous) !== String(partitions)) {
    throw mismatch(name, String(previous), partitions, key);
  }
}

/** Forgets the recorded count (step of the drain-and-switch procedure). */
export async function forgetPartitionCount(
  redis: Redis | Cluster,
  prefix: string,
  name: string,
): Promise<void> {
  await redis.del(partitionCountKey(prefix, name));
}
