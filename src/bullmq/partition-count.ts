import type { Cluster, Redis } from 'ioredis';
import { DbleasesError } from '../errors.js';
import { mismatch, partitionCountKey } from './names.js';

/**
 * Records the partition count of a queue name on first use and checks it afterwards, atomically in
 * one round trip (`SET key n NX GET`, Redis ≥ 7). Rejects with `PARTITION_COUNT_MISMATCH`.
 */
export async function ensurePartitionCount(
  redis: Redis | Cluster,
  prefix: string,
  name: string,
  partitions: number,
): Promise<void> {
  const key = partitionCountKey(prefix, name);
  let previous: unknown;
  try {
    previous = await redis.call('SET', key, String(partitions), 'NX', 'GET');
  } catch (error) {
    throw new DbleasesError('REDIS_UNREACHABLE', `Could not check the partition count of \`${name}\` in Redis`, {
      cause: error,
    });
  }
  if (previous !== null && String(previous) !== String(partitions)) {
    throw mismatch(name, String(previous), partitions, key);
  }
}

/** Forgets the recorded count (step of the drain-and-switch procedure). */
export async function forgetPartitionCount(redis: Redis | Cluster, prefix: string, name: string): Promise<void> {
  await redis.del(partitionCountKey(prefix, name));
}
