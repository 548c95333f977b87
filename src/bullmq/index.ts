/**
 * BullMQ adapter: partition-keyed queues (`PartitionedQueue`) and Workers that follow the lease
 * (`PartitionedWorker`). Peer dependencies: `bullmq` 6 and `ioredis` 5.
 */
export { PartitionedQueue } from './partitioned-queue.js';
export type {
  PartitionedQueueOptions,
  PartitionedJobOptions,
  PartitionedBulkJobOptions,
  PartitionedBulkJob,
} from './partitioned-queue.js';
export { PartitionedWorker } from './partitioned-worker.js';
export type { PartitionedWorkerOptions, PartitionedWorkerEvents } from './partitioned-worker.js';
export { jobPartition } from './job-context.js';
export type { JobPartition } from './job-context.js';
export { fnv1a32, partitionOf, canonicalKey } from './hash.js';
export type { PartitionKey } from './hash.js';
export type { ConnectionInput } from './connection.js';
export { ORDER_BREAKING_OPTIONS } from './job-options.js';
export { partitionQueueName, partitionCountKey } from './names.js';
