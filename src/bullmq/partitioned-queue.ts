import { Queue, type BulkJobOptions, type Job, type JobsOptions, type JobType } from 'bullmq';
import { invalidArgument, invalidOption } from '../errors.js';
import { type ConnectionInput, resolveConnection, type SharedConnection } from './connection.js';
import { partitionOf, type PartitionKey } from './hash.js';
import { checkOrderedJobOptions } from './job-options.js';
import { checkBaseName, checkBoolean, checkPartitionIndex, checkPartitions, checkPrefix, partitionQueueName } from './names.js';
import { ensurePartitionCount, forgetPartitionCount } from './partition-count.js';

export interface PartitionedQueueOptions {
  /** Number of partitions (= BullMQ queues `<name>-0` … `<name>-<n-1>`); fixed per queue name in Redis. */
  partitions: number;
  /** An ioredis `Redis`/`Cluster` to share (not closed by `close()`), or ioredis options (we own that client). */
  connection: ConnectionInput;
  /**
   * BullMQ key prefix.
   * @defaultValue `'bull'`
   */
  prefix?: string;
  /**
   * Default job options for every partition queue (checked like per-job options when `ordered`).
   * @defaultValue `{}`
   */
  defaultJobOptions?: JobsOptions;
  /**
   * Refuse the job options that break per-partition FIFO order (`delay`, `priority`, `lifo`).
   * @defaultValue `true`
   */
  ordered?: boolean;
  /**
   * Redis Cluster: name each partition queue `{<name>-<p>}` so each is its own hash tag and the
   * partitions spread over the shards. Producers and workers of one queue must agree.
   * @defaultValue `false`
   */
  cluster?: boolean;
}

/** Job options of a partitioned job: BullMQ's, plus the key that chooses the partition. */
export type PartitionedJobOptions = JobsOptions & { partitionKey: PartitionKey };
export type PartitionedBulkJobOptions = BulkJobOptions & { partitionKey: PartitionKey };

export interface PartitionedBulkJob<DataType, NameType extends string> {
  name: NameType;
  data: DataType;
  opts: PartitionedBulkJobOptions;
}

/**
 * The producer side: one BullMQ `Queue` per partition (created lazily, all on one shared
 * connection); `add`/`addBulk` route each job by `partitionOf(partitionKey)`.
 */
export class PartitionedQueue<DataType = unknown, ResultType = unknown, NameType extends string = string> {
  readonly name: string;
  readonly partitions: number;
  readonly prefix: string;
  readonly ordered: boolean;
  readonly cluster: boolean;
  readonly #defaultJobOptions: JobsOptions;
  readonly #connection: SharedConnection;
  /** Partition → its BullMQ queue; filled on first use, emptied by close(). */
  readonly #queues = new Map<number, Queue>();
  /** The partition-count check; every add awaits it (resolved after the first round trip). */
  #ready: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: PartitionedQueueOptions) {
    if (options === null || typeof options !== 'object') throw invalidArgument('options', 'an object', options);
    this.name = checkBaseName(name);
    this.partitions = checkPartitions(options.partitions);
    this.prefix = options.prefix === undefined ? 'bull' : checkPrefix(options.prefix);
    this.ordered = checkBoolean('ordered', options.ordered, true);
    this.cluster = checkBoolean('cluster', options.cluster, false);
    const defaults = options.defaultJobOptions ?? {};
    if (typeof defaults !== 'object') throw invalidOption('defaultJobOptions', 'an object', defaults);
    if (this.ordered) checkOrderedJobOptions(defaults, 'defaultJobOptions');
    this.#defaultJobOptions = defaults;
    this.#connection = resolveConnection(options.connection, false);
  }

  /** The partition of `key`: FNV-1a 32-bit of its UTF-8 canonical text, mod `partitions`. */
  partitionFor(key: PartitionKey): number {
    return partitionOf(key, this.partitions);
  }

  /** The real BullMQ queue name of `partition`. */
  queueName(partition: number): string {
    return partitionQueueName(this.name, checkPartitionIndex(partition, this.partitions), this.cluster);
  }

  /** The BullMQ `Queue` of `partition` (for getters, bull-board, …); created on first use. */
  queue(partition: number): Queue {
    checkPartitionIndex(partition, this.partitions);
    let queue = this.#queues.get(partition);
    if (queue === undefined) {
      queue = new Queue(partitionQueueName(this.name, partition, this.cluster), {
        connection: this.#connection.client,
        prefix: this.prefix,
        defaultJobOptions: this.#defaultJobOptions,
      });
      queue.on('error', () => {
        // Connection errors reach the caller through the rejected add(); the queue object must not
        // crash the process with an unhandled 'error' event.
      });
      this.#queues.set(partition, queue);
    }
    return queue;
  }

  /** Resolves once the partition count is recorded or checked; rejects with `PARTITION_COUNT_MISMATCH`. */
  waitUntilReady(): Promise<void> {
    if (this.#ready === undefined) {
      this.#ready = ensurePartitionCount(this.#connection.client, this.prefix, this.name, this.partitions);
      this.#ready.catch(() => undefined);
    }
    return this.#ready;
  }

  /** Adds one job to the partition of `opts.partitionKey`. */
  async add(name: NameType, data: DataType, opts: PartitionedJobOptions): Promise<Job<DataType, ResultType, NameType>> {
    if (opts === null || typeof opts !== 'object') throw invalidArgument('opts', 'an object with a `partitionKey`', opts);
    const { partitionKey, ...jobOptions } = opts;
    const partition = partitionOf(partitionKey, this.partitions);
    if (this.ordered) checkOrderedJobOptions(jobOptions, 'opts');
    await this.waitUntilReady();
    return (await this.queue(partition).add(name, data, jobOptions)) as Job<DataType, ResultType, NameType>;
  }

  /**
   * Adds many jobs: validates all first (nothing is sent if one is invalid), groups them by
   * partition and sends each group as one BullMQ `addBulk` (one pipeline, one round trip); the
   * groups go out concurrently on the shared connection. Like BullMQ's `addBulk` this is not a
   * transaction: on a Redis error some groups may have been added. Returns jobs in input order.
   */
  async addBulk(jobs: PartitionedBulkJob<DataType, NameType>[]): Promise<Job<DataType, ResultType, NameType>[]> {
    if (!Array.isArray(jobs)) throw invalidArgument('jobs', 'an array', jobs);
    const groups = new Map<number, { index: number[]; jobs: { name: NameType; data: DataType; opts: BulkJobOptions }[] }>();
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      const opts = job?.opts;
      if (opts === null || typeof opts !== 'object') {
        throw invalidArgument(`jobs[${i}].opts`, 'an object with a `partitionKey`', opts);
      }
      const { partitionKey, ...jobOptions } = opts;
      const partition = partitionOf(partitionKey, this.partitions);
      if (this.ordered) checkOrderedJobOptions(jobOptions, `jobs[${i}].opts`);
      let group = groups.get(partition);
      if (group === undefined) {
        group = { index: [], jobs: [] };
        groups.set(partition, group);
      }
      group.index.push(i);
      group.jobs.push({ name: job!.name, data: job!.data, opts: jobOptions });
    }
    await this.waitUntilReady();
    const result = new Array<Job<DataType, ResultType, NameType>>(jobs.length);
    await Promise.all(
      [...groups].map(async ([partition, group]) => {
        const added = await this.queue(partition).addBulk(group.jobs);
        for (let k = 0; k < added.length; k++) result[group.index[k]!] = added[k] as Job<DataType, ResultType, NameType>;
      }),
    );
    return result;
  }

  /**
   * Deletes every partition queue with its jobs, and the recorded partition count (tests, and the
   * last step of drain-and-switch). `force` also removes active jobs.
   */
  async obliterate(opts: { force?: boolean } = {}): Promise<void> {
    for (let p = 0; p < this.partitions; p++) await this.queue(p).obliterate({ force: opts.force === true });
    await forgetPartitionCount(this.#connection.client, this.prefix, this.name);
    this.#ready = undefined;
  }

  /** Sum of BullMQ job counts over all partitions (e.g. to see that a queue drained). */
  async getJobCounts(...types: JobType[]): Promise<Record<string, number>> {
    const all = await Promise.all(Array.from({ length: this.partitions }, (_, p) => this.queue(p).getJobCounts(...types)));
    const sum: Record<string, number> = {};
    for (const counts of all) for (const [k, v] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }

  /** Closes the partition queues, and the connection if we created it. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const queues = [...this.#queues.values()];
      this.#queues.clear();
      await Promise.allSettled(queues.map((q) => q.close()));
      if (this.#connection.owned) await this.#connection.client.quit().catch(() => undefined);
    })();
    return this.#closing;
  }
}
