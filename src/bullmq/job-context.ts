import type { Job } from 'bullmq';

/** What a processor may learn about the job it runs. */
export interface JobPartition {
  /** The lease (= queue base name). */
  lease: string;
  /** The partition the job belongs to. */
  partition: number;
  /** The fencing token of the partition while this process owns it; pass it to downstream writes. */
  epoch: number;
}

const contexts = new WeakMap<object, JobPartition>();

/** @internal */
export function setJobPartition(job: Job, context: JobPartition): void {
  contexts.set(job, context);
}

/**
 * The partition and fencing epoch of a job a PartitionedWorker is processing (no string parsing);
 * `undefined` for a job object that did not come from a PartitionedWorker.
 *
 * ```ts
 * new PartitionedWorker('orders', async (job) => {
 *   const { partition, epoch } = jobPartition(job)!;
 *   await db.query('UPDATE ... WHERE partition = $1 AND epoch <= $2', [partition, epoch]);
 * }, opts);
 * ```
 */
export function jobPartition(job: Job): JobPartition | undefined {
  return contexts.get(job);
}
