import { DbleasesError, invalidArgument, invalidOption } from '../errors.js';

/** The largest partition count accepted (one BullMQ queue and, on a worker, one Worker each). */
export const MAX_PARTITIONS = 65_536;

/** Validates the base name of a partitioned queue: not empty, no `:`, no braces (they make hash tags). */
export function checkBaseName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || /[:{}]/.test(name)) {
    throw invalidArgument('name', 'a non-empty string without `:`, `{` or `}`', name);
  }
  return name;
}

export function checkPartitions(partitions: unknown): number {
  if (
    typeof partitions !== 'number' ||
    !Number.isInteger(partitions) ||
    partitions < 1 ||
    partitions > MAX_PARTITIONS
  ) {
    throw invalidOption('partitions', `an integer from 1 to ${MAX_PARTITIONS}`, partitions);
  }
  return partitions;
}

export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length === 0)
    throw invalidOption('prefix', 'a non-empty string', prefix);
  return prefix;
}

/**
 * The BullMQ queue name of one partition: `<name>-<partition>`, or `{<name>-<partition>}` in cluster
 * mode so that every partition queue is one hash tag (its own slot) and queues spread over shards.
 */
export function partitionQueueName(name: string, partition: number, cluster: boolean): string {
  return cluster ? `{${name}-${partition}}` : `${name}-${partition}`;
}

/** The Redis key that records the partition count of `name`: `<prefix>:dbleases:<name>:partitions`. */
export function partitionCountKey(prefix: string, name: string): string {
  return `${prefix}:dbleases:${name}:partitions`;
}

export function checkPartitionIndex(partition: unknown, partitions: number): number {
  if (
    typeof partition !== 'number' ||
    !Number.isInteger(partition) ||
    partition < 0 ||
    partition >= partitions
  ) {
    throw invalidArgument('partition', `an integer from 0 to ${partitions - 1}`, partition);
  }
  return partition;
}

export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value);
  return value;
}

export function mismatch(name: string, recorded: string, partitions: number, key: string): DbleasesError {
  return new DbleasesError(
    'PARTITION_COUNT_MISMATCH',
    `Queue \`${name}\` has ${recorded} partitions (recorded in Redis key \`${key}\`), but this instance was ` +
      `created with \`partitions: ${partitions}\`. Use the recorded count, or change it with the ` +
      'drain-and-switch procedure (README: "Changing the partition count").',
  );
}
