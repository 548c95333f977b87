/**
 * BullMQ adapter: partition-keyed queues (`PartitionedQueue`) and Workers that follow the lease
 * (`PartitionedWorker`). Peer dependencies: `bullmq` 6 and `ioredis` 5.
 */
// First: refuses an unsupported BullMQ before anything uses it.
import './bullmq-version.js';

export type { ConnectionInput } from './connection.js';
export type { PartitionKey } from './hash.js';
export { canonicalKey, fnv1a32, partitionOf } from './hash.js';
export type { JobPartition } from './job-context.js';
export { jobPartition } from './job-context.js';
export { ORDER_BREAKING_OPTIONS } from './job-options.js';
export { partitionCountKey, partitionQueueName } from './names.js';
export type {
  PartitionedBulkJob,
  PartitionedBulkJobOptions,
  PartitionedJobOptions,
  PartitionedQueueOptions,
} from './partitioned-queue.js';
export { PartitionedQueue } from './partitioned-queue.js';
export type { PartitionedWorkerEvents, PartitionedWorkerOptions } from './partitioned-worker.js';
export { PartitionedWorker } from './partitioned-worker.js';
