import { type BulkJobOptions, Job, type JobJson, type JobsOptions, type JobType, Queue } from 'bullmq';
import { Cluster } from 'ioredis';

import { type DbleasesError, invalidArgument, invalidOption } from '../errors.js';
import {
  type ConnectionInput,
  releaseConnection,
  resolveConnection,
  type SharedConnection,
} from './connection.js';
import { type PartitionKey, partitionOf } from './hash.js';
import { checkOrderedJobOptions } from './job-options.js';
import {
  checkBaseName,
  checkBoolean,
  checkPartitionIndex,
  checkPartitions,
  checkPrefix,
  partitionQueueName,
} from './names.js';
import { DEFAULT_READY_TIMEOUT, ensurePartitionCount, forgetPartitionCount } from './partition-count.js';

/** Jobs per pipeline before it is sent (at a partition-group boundary) in `addBulk`. */
const PIPELINE_FLUSH_AT = 256;

/** The jobs of one partition in one addBulk call, with their input positions. */
interface Group<DataType, NameType extends string> {
  index: number[];
  jobs: { name: NameType; data: DataType; opts: PartitionedBulkJobOptions }[];
}

/**
 * BullMQ job options from ours in one copy: `defaults` (if any) overridden by `opts` without
 * `partitionKey`, and `jobId` set as `Queue.addBulk` does.
 */
function jobOptions(
  defaults: JobsOptions | undefined,
  opts: PartitionedBulkJobOptions,
): BulkJobOptions & { jobId?: string } {
  const merged: Record<string, unknown> = defaults === undefined ? {} : { ...defaults };
  for (const key in opts)
    if (key !== 'partitionKey') merged[key] = (opts as unknown as Record<string, unknown>)[key];
  merged.jobId = opts.jobId;
  return merged as BulkJobOptions & { jobId?: string };
}

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
   * Bound on the partition-count check (one round trip before the first add), in ms; past it the
   * add rejects with `REDIS_UNREACHABLE` and the next add checks again.
   * @defaultValue 2000
   */
  readyTimeout?: number;
  /**
   * Redis Cluster: name each partition queue `{<name>-<p>}` so each is its own hash tag and the
   * partitions spread over the shards. Producers and workers of one queue must agree.
   * @defaultValue `false`
   */
  cluster?: boolean;
  /**
   * Length cap of each partition queue's BullMQ events stream. Every partition queue has its own
   * stream, so BullMQ's 10 000 per queue would keep `partitions × 10 000` entries (~0.35 MiB each
   * stream); the default keeps about one BullMQ queue's worth in total.
   * @defaultValue `max(100, ceil(10000 / partitions))`
   */
  maxLenEvents?: number;
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
 * connection); `add`/`addBulk` route each job by `partitionOf(partitionKey)`. `DataType` and
 * `ResultType` default to `any`, as in BullMQ's own `Queue`.
 */
export class PartitionedQueue<
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  DataType = any,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ResultType = any,
  NameType extends string = string,
> {
  readonly name: string;
  readonly partitions: number;
  readonly prefix: string;
  readonly ordered: boolean;
  readonly cluster: boolean;
  readonly #defaultJobOptions: JobsOptions;
  readonly #connection: SharedConnection;
  readonly #readyTimeout: number;
  readonly #maxLenEvents: number;
  /** Partition → its BullMQ queue; filled on first use, emptied by close(). */
  readonly #queues = new Map<number, Queue>();
  /** The partition-count check; every add awaits it (resolved after the first round trip). */
  #ready: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: PartitionedQueueOptions) {
    if (options === null || typeof options !== 'object')
      throw invalidArgument('options', 'an object', options);
    this.name = checkBaseName(name);
    this.partitions = checkPartitions(options.partitions);
    this.prefix = options.prefix === undefined ? 'bull' : checkPrefix(options.prefix);
    this.ordered = checkBoolean('ordered', options.ordered, true);
    this.cluster = checkBoolean('cluster', options.cluster, false);
    const defaults = options.defaultJobOptions ?? {};
    if (typeof defaults !== 'object') throw invalidOption('defaultJobOptions', 'an object', defaults);
    if (this.ordered) checkOrderedJobOptions(defaults, 'defaultJobOptions');
    this.#defaultJobOptions = defaults;
    const readyTimeout = options.readyTimeout ?? DEFAULT_READY_TIMEOUT;
    if (typeof readyTimeout !== 'number' || !Number.isInteger(readyTimeout) || readyTimeout < 1) {
      throw invalidOption('readyTimeout', 'an integer ≥ 1 (ms)', readyTimeout);
    }
    this.#readyTimeout = readyTimeout;
    const maxLen = options.maxLenEvents ?? Math.max(100, Math.ceil(10_000 / this.partitions));
    if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 1)
      throw invalidOption('maxLenEvents', 'an integer ≥ 1', maxLen);
    this.#maxLenEvents = maxLen;
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
        streams: { events: { maxLen: this.#maxLenEvents } },
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
      const ready = ensurePartitionCount(
        this.#connection.client,
        this.prefix,
        this.name,
        this.partitions,
        this.#readyTimeout,
      );
      this.#ready = ready;
      // A Redis failure is not final: the next call checks again. A mismatch is.
      ready.catch((error: unknown) => {
        if ((error as DbleasesError).code === 'REDIS_UNREACHABLE' && this.#ready === ready)
          this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  /** Adds one job to the partition of `opts.partitionKey`. */
  async add(
    name: NameType,
    data: DataType,
    opts: PartitionedJobOptions,
  ): Promise<Job<DataType, ResultType, NameType>> {
    if (opts === null || typeof opts !== 'object')
      throw invalidArgument('opts', 'an object with a `partitionKey`', opts);
    const { partitionKey, ...jobOptions } = opts;
    const partition = partitionOf(partitionKey, this.partitions);
    if (this.ordered) checkOrderedJobOptions(jobOptions, 'opts');
    await this.waitUntilReady();
    return (await this.queue(partition).add(name, data, jobOptions)) as Job<DataType, ResultType, NameType>;
  }

  /**
   * Adds many jobs: validates all first (nothing is sent if one is invalid), groups them by
   * partition and sends them in pipelines of whole groups (each group in one round trip; a pipeline
   * leaves once it holds ≥ 256 jobs, so Redis works while the next is built). With `cluster` (or an ioredis
   * `Cluster`) each group is its own BullMQ `addBulk` pipeline, all sent at once. Like BullMQ's
   * `addBulk` this is not a transaction: on a Redis error some jobs may have been added. Returns
   * jobs in input order.
   */
  async addBulk(
    jobs: PartitionedBulkJob<DataType, NameType>[],
  ): Promise<Job<DataType, ResultType, NameType>[]> {
    if (!Array.isArray(jobs)) throw invalidArgument('jobs', 'an array', jobs);
    const groups = new Map<number, Group<DataType, NameType>>();
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i];
      const opts = job?.opts;
      if (opts === null || typeof opts !== 'object') {
        throw invalidArgument(`jobs[${i}].opts`, 'an object with a `partitionKey`', opts);
      }
      const partition = partitionOf(opts.partitionKey, this.partitions);
      if (this.ordered) checkOrderedJobOptions(opts, `jobs[${i}].opts`);
      let group = groups.get(partition);
      if (group === undefined) {
        group = { index: [], jobs: [] };
        groups.set(partition, group);
      }
      group.index.push(i);
      group.jobs.push({ name: job!.name, data: job!.data, opts });
    }
    await this.waitUntilReady();
    const result = new Array<Job<DataType, ResultType, NameType>>(jobs.length);
    if (this.cluster || this.#connection.client instanceof Cluster) {
      // A cluster pipeline must stay within one slot: one pipeline per partition queue.
      await Promise.all(
        [...groups].map(async ([partition, group]) => {
          const added = await this.queue(partition).addBulk(
            group.jobs.map(({ name, data, opts }) => ({ name, data, opts: jobOptions(undefined, opts) })),
          );
          for (let k = 0; k < added.length; k++)
            result[group.index[k]!] = added[k] as Job<DataType, ResultType, NameType>;
        }),
      );
      return result;
    }
    await this.#addInOnePipeline(groups, result);
    return result;
  }

  /**
   * Groups batched into pipelines on the shared connection, as BullMQ's FlowProducer batches inserts
   * across queues: `Job.createBulk`'s steps (options merged like `Queue.addBulk`, validated, the
   * queue backend's `addJobToTransaction`). A group never spans two pipelines; a pipeline is sent
   * once it holds ≥ PIPELINE_FLUSH_AT jobs, so building overlaps with Redis executing.
   */
  async #addInOnePipeline(
    groups: Map<number, Group<DataType, NameType>>,
    result: Job<DataType, ResultType, NameType>[],
  ): Promise<void> {
    const entries = [...groups].map(([partition, group]) => ({ queue: this.queue(partition), group }));
    const clients = await Promise.all(entries.map(({ queue }) => queue.getBackend().client));
    const client = clients[0]!;
    /** Each sent pipeline with the jobs it carries, in command order. */
    const sent: Array<{ exec: Promise<Array<[Error | null, unknown]> | null>; jobs: Job[] }> = [];
    let pipeline = client.pipeline();
    let carried: Job[] = [];
    for (const { queue, group } of entries) {
      const backend = queue.getBackend();
      for (let k = 0; k < group.jobs.length; k++) {
        const { name, data, opts } = group.jobs[k]!;
        const merged = jobOptions(this.#defaultJobOptions, opts);
        const job = new Job(queue, name, data, merged, merged.jobId);
        const json = job.asJSON();
        (job as unknown as { validateOptions(json: JobJson): void }).validateOptions(json);
        // Queues the command on the pipeline synchronously; its result comes from exec().
        void backend
          .addJobToTransaction(pipeline, json, job.id!, {
            parentKey: job.parentKey,
            parentDependenciesKey: job.parentKey ? `${job.parentKey}:dependencies` : '',
          })
          .catch(() => undefined);
        carried.push(job);
        result[group.index[k]!] = job as Job<DataType, ResultType, NameType>;
      }
      // Send at group boundaries once a pipeline is big enough, so Redis works while we build the next.
      if (carried.length >= PIPELINE_FLUSH_AT) {
        sent.push({ exec: pipeline.exec() as Promise<Array<[Error | null, unknown]> | null>, jobs: carried });
        pipeline = client.pipeline();
        carried = [];
      }
    }
    if (carried.length > 0)
      sent.push({ exec: pipeline.exec() as Promise<Array<[Error | null, unknown]> | null>, jobs: carried });
    const outcomes = await Promise.all(sent.map((s) => s.exec));
    outcomes.forEach((replies, i) => {
      const jobs = sent[i]!.jobs;
      for (let k = 0; k < jobs.length; k++) {
        const [error, id] = replies?.[k] ?? [new Error('No reply from Redis for an added job'), undefined];
        if (error) throw error;
        jobs[k]!.id = String(id);
      }
    });
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
    const all = await Promise.all(
      Array.from({ length: this.partitions }, (_, p) => this.queue(p).getJobCounts(...types)),
    );
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
      await releaseConnection(this.#connection);
    })();
    return this.#closing;
  }
}
