import {
  Backoffs,
  type Job,
  type Processor,
  RATE_LIMIT_ERROR,
  WaitingError,
  Worker,
  type WorkerOptions,
} from 'bullmq';

import { DbleasesError, invalidArgument, invalidOption } from '../errors.js';
import { TypedEmitter } from '../lease/emitter.js';
import { withTimeout } from '../lease/timeout.js';
import type { ClientHandle, LeaseHandle, RevokeContext, RevokeReason } from '../lease/types.js';
import {
  type ConnectionInput,
  releaseConnection,
  resolveConnection,
  type SharedConnection,
} from './connection.js';
import { setJobPartition } from './job-context.js';
import { checkBaseName, checkBoolean, checkPartitions, checkPrefix, partitionQueueName } from './names.js';
import { DEFAULT_READY_TIMEOUT, ensurePartitionCount } from './partition-count.js';
import { reclaimActive, retryInPlace } from './scripts.js';

/** BullMQ Worker options that this class sets itself, or that make no sense per partition. */
type ManagedWorkerOption =
  | 'connection'
  | 'autorun'
  | 'name'
  | 'concurrency'
  | 'prefix'
  | 'lockDuration'
  | 'stalledInterval'
  | 'skipStalledCheck'
  | 'skipLockRenewal'
  | 'useWorkerThreads'
  | 'workerForkOptions'
  | 'workerThreadsOptions';

export interface PartitionedWorkerOptions extends Omit<WorkerOptions, ManagedWorkerOption> {
  /** The lease client (`createClient()`); the worker joins lease `<name>` of size `partitions` on it. */
  client: ClientHandle;
  /** Number of partitions: the lease size and the number of partition queues. Must match the producers. */
  partitions: number;
  /**
   * An ioredis `Redis`/`Cluster` with `maxRetriesPerRequest: null`, shared by all partition Workers
   * for non-blocking work (not closed by `close()`), or ioredis options (we create and own it).
   * Each running Worker adds its own blocking connection.
   */
  connection: ConnectionInput;
  /** BullMQ key prefix. @defaultValue `'bull'` */
  prefix?: string;
  /**
   * Jobs run at once per partition. Must be 1 when `ordered`.
   * @defaultValue 1
   */
  concurrency?: number;
  /**
   * Strict per-partition order: global concurrency 1 on every partition queue, and failed jobs
   * with attempts left retried in place (before any later job of the partition) after their backoff.
   * @defaultValue `true`
   */
  ordered?: boolean;
  /** Partition queues named `{<name>-<p>}` (Redis Cluster hash tags). Must match the producers. @defaultValue `false` */
  cluster?: boolean;
  /**
   * BullMQ job lock duration in ms; renewed every half of it.
   * @defaultValue the lease client's `ttl` (6000 when it cannot be read)
   */
  lockDuration?: number;
  /**
   * BullMQ stalled-job check interval in ms: only the backstop for a lock lost without an ownership
   * change, since the takeover recovers a previous owner's jobs at once; a long interval saves an idle
   * partition's Redis traffic.
   * @defaultValue the larger of the lease client's `ttl` and 30000
   */
  stalledInterval?: number;
  /**
   * Bound on the start-up check of the partition count in Redis, in ms; past it `waitUntilReady()`
   * rejects with `REDIS_UNREACHABLE` (also emitted as `error`) and the worker stays idle: it has not
   * joined the lease, so it holds no partitions. Create a new worker (or restart) to try again.
   * @defaultValue 2000
   */
  readyTimeout?: number;
  /**
   * After the lease is lost (or a drain's signal aborts), how long in-flight jobs get to settle after
   * their AbortSignal fired before the partition's Worker is closed with force, in ms.
   * @defaultValue 500
   */
  forceCloseAfter?: number;
}

export interface PartitionedWorkerEvents<DataType, ResultType, NameType extends string> {
  /** Workers started for these partitions (sorted). */
  assigned: (partitions: number[]) => void;
  /** Workers of these partitions stopped (sorted), before the lease released them. */
  revoked: (info: { partitions: number[]; reason: RevokeReason }) => void;
  completed: (job: Job<DataType, ResultType, NameType>, result: ResultType, partition: number) => void;
  /** A job attempt failed; `willRetry` when another attempt follows (in place when ordered). */
  failed: (
    job: Job<DataType, ResultType, NameType> | undefined,
    error: Error,
    partition: number,
    willRetry: boolean,
  ) => void;
  /** Jobs left active by the previous owner, put back at the head of the partition on takeover. */
  recovered: (info: { partition: number; jobIds: string[] }) => void;
  /** Background failures (Redis, lease, Worker). Never thrown: attach a listener. */
  error: (error: Error, partition?: number) => void;
}

/** One partition's running BullMQ Worker. */
interface Slot {
  readonly partition: number;
  /** The lease epoch when the Worker started; a job runs only while the lease still reports it. */
  readonly epoch: number;
  readonly worker: Worker;
  /** Processor calls in progress. */
  inFlight: number;
  /** The Worker's main loop was started (after the takeover recovery). */
  running: boolean;
  /** Listed in an `assigned` event: only such slots are listed in `revoked`. */
  announced: boolean;
  /** Once true: no new job starts; set before the Worker is paused and closed. */
  stopping: boolean;
  /**
   * Once true: we aborted the in-flight jobs' signals (lease lost, drain timed out). Whatever those
   * attempts throw from then on is our interruption, never the job's failure.
   */
  cancelled: boolean;
  /** Resolves when the start sequence (ready, reclaim, run) ended, whatever its outcome. */
  started: Promise<boolean>;
  /** Woken when inFlight drops to 0. */
  readonly idle: Set<() => void>;
}

const SPECIAL_ERRORS = new Set([
  'UnrecoverableError',
  'RateLimitError',
  'DelayedError',
  'WaitingError',
  'WaitingChildrenError',
]);
const RETRY_START_DELAY_MS = 1_000;
const RUN_RETRY_DELAY_MS = 1_000;
const STALLED_INTERVAL_MS = 30_000;
const DRAIN_DELAY_S = 60;
/** Bound on closing one partition's BullMQ Worker (its in-flight jobs have settled or were let go by then). */
const WORKER_CLOSE_TIMEOUT_MS = 5_000;
const DEFAULT_TTL = 6_000;

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw invalidOption(name, 'an integer ≥ 1', value);
  return value;
}

/** The names of the PartitionedWorkers open on each lease client (one per name and client). */
const openWorkers = new WeakMap<ClientHandle, Set<string>>();
function workersOf(client: ClientHandle): Set<string> {
  let names = openWorkers.get(client);
  if (!names) openWorkers.set(client, (names = new Set()));
  return names;
}

/**
 * Aborts every in-flight job's signal with `reason` (BullMQ types the reason as a string; any value
 * works) and marks the slot, so that the attempts' rejections are not taken for failures.
 */
function cancel(slot: Slot, reason: Error): void {
  slot.cancelled = true;
  slot.worker.cancelAllJobs(reason as unknown as string);
}

/** Turns anything thrown into an Error with a readable message (a plain object as its JSON). */
function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'object' && value !== null) {
    try {
      return new Error(`Non-Error thrown: ${JSON.stringify(value)}`);
    } catch {
      // circular: fall through
    }
  }
  return new Error(String(value));
}

/**
 * The consumer side: follows lease `<name>` of the client and runs one BullMQ `Worker` per owned
 * partition queue, started when the lease grants the partition and closed (in-flight jobs
 * finished) inside the lease's awaited revoke step, so the next owner starts only after this one
 * stopped. `DataType` and `ResultType` default to `any`, as in BullMQ's own `Worker`.
 */
export class PartitionedWorker<
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  DataType = any,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ResultType = any,
  NameType extends string = string,
> extends TypedEmitter<PartitionedWorkerEvents<DataType, ResultType, NameType>> {
  readonly name: string;
  readonly size: number;
  readonly prefix: string;
  readonly ordered: boolean;
  readonly cluster: boolean;
  readonly #client: ClientHandle;
  /** Opened only after the partition count checked out, so a misconfigured worker never takes partitions. */
  #lease: LeaseHandle | undefined;
  readonly #processor: Processor<DataType, ResultType, NameType>;
  readonly #workerOptions: WorkerOptions;
  readonly #forceCloseAfter: number;
  readonly #readyTimeout: number;
  readonly #connection: SharedConnection;
  /** Partition → its Worker; an entry exists from start until its stop finished. */
  readonly #slots = new Map<number, Slot>();
  readonly #unsubscribe: Array<() => void> = [];
  readonly #ready: Promise<void>;
  #readyDone = false;
  #closing: Promise<void> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    name: string,
    processor: Processor<DataType, ResultType, NameType>,
    options: PartitionedWorkerOptions,
  ) {
    super();
    this.name = checkBaseName(name);
    if (typeof processor !== 'function')
      throw invalidArgument('processor', 'a function (job, token, signal) => Promise', processor);
    if (options === null || typeof options !== 'object')
      throw invalidArgument('options', 'an object', options);
    const {
      client,
      partitions,
      connection,
      prefix,
      concurrency,
      ordered,
      cluster,
      lockDuration,
      stalledInterval,
      forceCloseAfter,
      readyTimeout,
      ...bullOptions
    } = options;
    if (client === null || typeof client !== 'object' || typeof client.lease !== 'function') {
      throw invalidOption('client', 'a lease client from createClient()', client);
    }
    this.size = checkPartitions(partitions);
    this.prefix = prefix === undefined ? 'bull' : checkPrefix(prefix);
    this.ordered = checkBoolean('ordered', ordered, true);
    this.cluster = checkBoolean('cluster', cluster, false);
    const perPartition = positiveInt('concurrency', concurrency, 1);
    if (this.ordered && perPartition !== 1) {
      throw invalidOption(
        'concurrency',
        '1 when `ordered` is true (set `ordered: false` for more)',
        concurrency,
      );
    }
    for (const managed of [
      'autorun',
      'name',
      'skipStalledCheck',
      'skipLockRenewal',
      'useWorkerThreads',
    ] as const) {
      if (managed in options)
        throw invalidOption(
          managed,
          'unset: PartitionedWorker manages it',
          (options as unknown as Record<string, unknown>)[managed],
        );
    }
    const ttl = (client as { options?: { ttl?: unknown } }).options?.ttl;
    const leaseTtl = typeof ttl === 'number' && ttl > 0 ? ttl : DEFAULT_TTL;
    this.#forceCloseAfter = positiveInt('forceCloseAfter', forceCloseAfter, 500);
    this.#readyTimeout = positiveInt('readyTimeout', readyTimeout, DEFAULT_READY_TIMEOUT);
    const lock = positiveInt('lockDuration', lockDuration, leaseTtl);
    const stalled = positiveInt('stalledInterval', stalledInterval, Math.max(leaseTtl, STALLED_INTERVAL_MS));
    this.#processor = processor;
    const running = workersOf(client);
    if (running.has(this.name)) {
      throw new DbleasesError(
        'DUPLICATE_WORKER',
        `A PartitionedWorker for ${JSON.stringify(this.name)} already runs on client ${JSON.stringify(client.id)}: ` +
          'one worker follows every partition the client owns of that lease, so a second would share its lease and lose it when the first closes. ' +
          'Close the first one before creating another, or give the second its own lease client.',
      );
    }
    // Last check: it may create (and own) a connection.
    this.#connection = resolveConnection(connection, true, (error) => this.#error(error));
    running.add(this.name);
    this.#workerOptions = {
      ...bullOptions,
      // Ordered retries rate-limit the partition queue for the backoff; BullMQ honours the limiter
      // key in Redis only when a limiter is configured, so configure one that never limits by itself.
      ...(this.ordered && bullOptions.limiter === undefined
        ? { limiter: { max: 1_000_000_000, duration: 1_000 } }
        : {}),
      connection: this.#connection.client,
      prefix: this.prefix,
      name: client.id,
      autorun: false,
      concurrency: perPartition,
      lockDuration: lock,
      stalledInterval: stalled,
      // BullMQ waits runRetryDelay (15 s) after a failed fetch, e.g. when its blocking connection was
      // killed: a partition would sit idle far longer than any lease failover. Retry within a second.
      runRetryDelay: bullOptions.runRetryDelay ?? RUN_RETRY_DELAY_MS,
      // An idle Worker blocks on the queue's marker key and is woken by a new job at once; drainDelay
      // only bounds how long it blocks before polling again. 60 s instead of 5 s cuts idle Redis
      // traffic by two thirds (bench/FINDINGS.md) without adding latency.
      drainDelay: bullOptions.drainDelay ?? DRAIN_DELAY_S,
    };

    this.#client = client;
    this.#ready = this.#init();
    this.#ready.then(
      () => {
        this.#readyDone = true;
        this.#reconcile();
      },
      (error: unknown) => this.#error(asError(error)),
    );
  }

  async #init(): Promise<void> {
    await ensurePartitionCount(
      this.#connection.client,
      this.prefix,
      this.name,
      this.size,
      this.#readyTimeout,
    );
    if (this.#closing)
      throw new DbleasesError('CLIENT_CLOSED', `PartitionedWorker ${this.name} was closed before it started`);
    const lease = this.#client.lease(this.name, this.size);
    this.#lease = lease;
    this.#unsubscribe.push(lease.onRevoke((ctx) => this.#onRevoke(ctx)));
    const onChange = () => this.#reconcile();
    const onLeaseError = (error: Error) => this.#error(error);
    lease.on('change', onChange);
    lease.on('error', onLeaseError);
    this.#unsubscribe.push(
      () => lease.off('change', onChange),
      () => lease.off('error', onLeaseError),
    );
    await lease.ready();
  }

  /** The lease this worker follows; `undefined` until the partition count checked out. */
  get lease(): LeaseHandle | undefined {
    return this.#lease;
  }

  /**
   * Resolves once the partition count is checked and the lease joined; rejects with
   * `PARTITION_COUNT_MISMATCH` or the lease's join error (also emitted as `error`).
   */
  waitUntilReady(): Promise<void> {
    return this.#ready;
  }

  /** Sorted partitions with a running Worker (started, not stopping). */
  partitions(): number[] {
    return [...this.#slots.values()]
      .filter((s) => s.running && !s.stopping)
      .map((s) => s.partition)
      .sort((a, b) => a - b);
  }

  /** The real BullMQ queue name of `partition`. */
  queueName(partition: number): string {
    return partitionQueueName(this.name, partition, this.cluster);
  }

  /** The BullMQ Worker of `partition` while it runs (for metrics and inspection; do not close it). */
  worker(partition: number): Worker | undefined {
    const slot = this.#slots.get(partition);
    return slot && slot.running && !slot.stopping ? slot.worker : undefined;
  }

  /**
   * Hands the partitions over: closes the lease (its revoke step stops every partition Worker after
   * its in-flight jobs, then the partitions are released and other processes take them at once),
   * leaves the lease's events, and closes the connection if we created it. The lease client stays
   * open. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#retryTimer);
      try {
        await this.#lease?.close();
      } catch (error) {
        this.#error(asError(error));
      }
      for (const off of this.#unsubscribe.splice(0)) off();
      await Promise.all([...this.#slots.values()].map((slot) => this.#stop(slot, 'close', undefined)));
      await releaseConnection(this.#connection);
      workersOf(this.#client).delete(this.name);
    })();
    return this.#closing;
  }

  #error(error: Error, partition?: number): void {
    if (this.listenerCount('error') === 0) {
      process.emitWarning(
        `dbleases/bullmq ${this.name}${partition === undefined ? '' : `-${partition}`}: ${error.message}`,
      );
      return;
    }
    this.emit('error', error, partition);
  }

  /** Starts a Worker for every owned partition that has none. Idempotent; called on every change. */
  #reconcile(): void {
    const lease = this.#lease;
    if (!this.#readyDone || this.#closing || lease === undefined) return;
    const starting: Array<Promise<number | undefined>> = [];
    for (const partition of lease.values()) {
      const slot = this.#slots.get(partition);
      const epoch = lease.epoch(partition);
      if (epoch === undefined) continue;
      if (slot === undefined) {
        starting.push(this.#start(partition, epoch).then((ok) => (ok ? partition : undefined)));
      } else if (slot.epoch !== epoch && !slot.stopping) {
        // Lost and regained between two events: the old Worker must not run jobs under the new epoch.
        void this.#stop(slot, 'lost', undefined);
      }
    }
    if (starting.length === 0) return;
    void Promise.all(starting).then((results) => {
      // Only what still runs now: a slot revoked while its neighbours were starting is in neither event.
      const slots = results
        .map((p) => (p === undefined ? undefined : this.#slots.get(p)))
        .filter((slot): slot is Slot => slot !== undefined && slot.running && !slot.stopping);
      for (const slot of slots) slot.announced = true;
      if (slots.length > 0)
        this.emit(
          'assigned',
          slots.map((slot) => slot.partition).sort((a, b) => a - b),
        );
    });
  }

  #scheduleReconcile(): void {
    if (this.#retryTimer !== undefined || this.#closing) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#reconcile();
    }, RETRY_START_DELAY_MS);
    this.#retryTimer.unref?.();
  }

  #start(partition: number, epoch: number): Promise<boolean> {
    const queueName = this.queueName(partition);
    // BullMQ creates an AbortController per job only for processors declaring a third parameter. That
    // costs ~10 % CPU per job (bench/FINDINGS.md), so declare it only when the user's processor does:
    // a processor without a `signal` parameter could not observe an abort anyway.
    const processor: Processor =
      this.#processor.length >= 3
        ? (job, token, signal) =>
            this.#process(slot, job as Job<DataType, ResultType, NameType>, token, signal)
        : (job, token) => this.#process(slot, job as Job<DataType, ResultType, NameType>, token, undefined);
    const worker = new Worker(queueName, processor, this.#workerOptions);
    const slot: Slot = {
      partition,
      epoch,
      worker,
      inFlight: 0,
      running: false,
      announced: false,
      stopping: false,
      cancelled: false,
      started: Promise.resolve(false),
      idle: new Set(),
    };
    worker.on('error', (error) => this.#error(asError(error), partition));
    worker.on('completed', (job, result) =>
      this.emit('completed', job as Job<DataType, ResultType, NameType>, result as ResultType, partition),
    );
    // BullMQ's own 'failed' (final failures, and its tail retries when unordered): a job it will
    // retry has no finishedOn.
    worker.on('failed', (job, error) =>
      this.emit(
        'failed',
        job as Job<DataType, ResultType, NameType> | undefined,
        error,
        partition,
        job !== undefined && !job.finishedOn,
      ),
    );
    this.#slots.set(partition, slot);
    slot.started = (async () => {
      try {
        await worker.waitUntilReady();
        if (slot.stopping) return false;
        const k = worker.keys;
        await reclaimActive(
          this.#connection.client,
          {
            active: k.active!,
            stalled: k.stalled!,
            stalledCheck: k['stalled-check']!,
            meta: k.meta!,
            jobPrefix: worker.toKey(''),
          },
          this.ordered,
        );
        const recovered = await worker.getBackend().moveStalledJobsToWait();
        if (recovered.length > 0) this.emit('recovered', { partition, jobIds: recovered });
        if (slot.stopping) return false;
        worker.run().catch((error: unknown) => this.#error(asError(error), partition));
        slot.running = true;
        return true;
      } catch (error) {
        this.#error(
          new DbleasesError('REDIS_UNREACHABLE', `Could not start the Worker of ${queueName}`, {
            cause: error,
          }),
          partition,
        );
        if (!slot.stopping) {
          slot.stopping = true;
          await this.#closeWorker(slot, true);
          this.#slots.delete(partition);
          this.#scheduleReconcile();
        }
        return false;
      }
    })();
    return slot.started;
  }

  /** The processor BullMQ calls: fences on the lease epoch, runs the user's processor, retries in place. */
  async #process(
    slot: Slot,
    job: Job<DataType, ResultType, NameType>,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ResultType> {
    slot.inFlight++;
    try {
      if (slot.stopping || this.#lease?.epoch(slot.partition) !== slot.epoch) {
        // Not ours (any more): give the job back untouched, at the head, and stop fetching.
        this.#fence(slot);
        throw await this.#giveBack(job, token);
      }
      setJobPartition(job, { lease: this.name, partition: slot.partition, epoch: slot.epoch });
      try {
        return await this.#processor(job, token, signal);
      } catch (thrown) {
        // We interrupted this attempt (a processor that honours its signal rejects): not its failure.
        if (slot.cancelled) throw await this.#giveBack(job, token);
        // BullMQ reads `err.message`: a primitive has none (null/undefined even break its failure
        // path and leave the job active), so it becomes an Error; an object goes to BullMQ as is.
        if (!this.ordered)
          throw typeof thrown === 'object' && thrown !== null ? thrown : new Error(String(thrown));
        throw await this.#retryInPlace(slot, job, token, asError(thrown));
      }
    } finally {
      if (--slot.inFlight === 0) for (const wake of slot.idle) wake();
    }
  }

  /**
   * Puts a job we interrupted (or must not run) back at the head of its partition, its attempts
   * untouched, and returns the error that tells BullMQ to leave it alone. The move is guarded by the
   * job's lock: when it fails, the lock is gone because the next owner's takeover already put the
   * job back at the head (or will, when a forced close left it active), so there is nothing to undo.
   */
  async #giveBack(job: Job, token: string | undefined): Promise<Error> {
    if (token !== undefined) await job.moveToWait(token).catch(() => undefined);
    return new WaitingError();
  }

  /**
   * Ordered mode, a failed attempt: with attempts left, count it, rate-limit the partition for the
   * backoff and return BullMQ's `RateLimitError` (job back to the head of the wait list, no other
   * job of the partition runs first, in any process). Otherwise return the error itself: BullMQ
   * fails the job (its `attemptsMade + 1 ≥ attempts` now) and the partition moves on.
   */
  async #retryInPlace(slot: Slot, job: Job, token: string | undefined, error: Error): Promise<Error> {
    if (SPECIAL_ERRORS.has(error.name) || error.message === RATE_LIMIT_ERROR || token === undefined)
      return error;
    const attempts = job.opts.attempts ?? 1;
    const maxStarted = this.#workerOptions.maxStartedAttempts;
    if (job.attemptsMade + 1 >= attempts) return error;
    if (maxStarted !== undefined && maxStarted > 0 && job.attemptsStarted >= maxStarted) return error;
    let delay: number | undefined;
    try {
      delay = await Backoffs.calculate(
        job.opts.backoff as Parameters<typeof Backoffs.calculate>[0],
        job.attemptsMade + 1,
        error,
        job,
        this.#workerOptions.settings?.backoffStrategy,
      );
    } catch (backoffError) {
      this.#error(asError(backoffError), slot.partition);
      return error;
    }
    if (delay === -1) return error;
    const worker = slot.worker;
    const counted = await retryInPlace(
      this.#connection.client,
      { job: worker.toKey(job.id!), limiter: worker.keys.limiter! },
      token,
      delay ?? 0,
      error.message,
    ).catch((redisError: unknown) => {
      this.#error(asError(redisError), slot.partition);
      return false;
    });
    if (!counted) return error;
    job.attemptsMade += 1;
    job.failedReason = error.message;
    this.emit('failed', job as Job<DataType, ResultType, NameType>, error, slot.partition, true);
    return Worker.RateLimitError();
  }

  /** Stop fetching at once (idempotent). */
  #fence(slot: Slot): void {
    if (slot.stopping) return;
    slot.stopping = true;
    slot.worker.pause(true).catch((error: unknown) => this.#error(asError(error), slot.partition));
  }

  #whenIdle(slot: Slot, deadlineMs: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    if (slot.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (idle: boolean) => {
        clearTimeout(timer);
        slot.idle.delete(wake);
        signal?.removeEventListener('abort', onAbort);
        resolve(idle);
      };
      const wake = () => done(true);
      const onAbort = () => done(slot.inFlight === 0);
      slot.idle.add(wake);
      if (deadlineMs !== undefined) timer = setTimeout(() => done(slot.inFlight === 0), deadlineMs);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops one partition's Worker. `rebalance`/`close`: no new job, in-flight jobs finish (until
   * `signal` aborts). `lost`: ownership is already gone: abort in-flight jobs at once. Either way,
   * jobs still running `forceCloseAfter` ms after their abort are left behind with a forced close.
   */
  async #stop(slot: Slot, reason: RevokeReason, signal: AbortSignal | undefined): Promise<void> {
    this.#fence(slot);
    try {
      if (reason === 'lost') {
        cancel(slot, new DbleasesError('LEASE_LOST', `Lease ${this.name} lost partition ${slot.partition}`));
      } else if (!(await this.#whenIdle(slot, undefined, signal))) {
        cancel(
          slot,
          new DbleasesError('LEASE_LOST', `The drain of ${this.queueName(slot.partition)} timed out`),
        );
      }
      await slot.started;
      const idle = await this.#whenIdle(slot, this.#forceCloseAfter, undefined);
      // A lost partition is not ours to tidy up (and Redis may be why): never wait on it. The next
      // owner's takeover recovers whatever this Worker left active.
      await this.#closeWorker(slot, !idle || reason === 'lost');
    } catch (error) {
      this.#error(asError(error), slot.partition);
    } finally {
      if (this.#slots.get(slot.partition) === slot) this.#slots.delete(slot.partition);
    }
    // The lease may already own the partition again (lost and re-claimed): start a fresh Worker.
    if (reason !== 'close') this.#reconcile();
  }

  /**
   * Closes one partition's BullMQ Worker, bounded: with ioredis 6, `Worker.close()` can hang after
   * its blocking connection was killed (test/bullmq/redis-faults.test.ts). Past the bound its
   * connections are disconnected and the stop goes on; any job it still held is recovered by the
   * next owner's takeover, and its lock no longer matches by then.
   */
  async #closeWorker(slot: Slot, force: boolean): Promise<void> {
    const { worker, partition } = slot;
    try {
      await withTimeout(
        worker.close(force),
        WORKER_CLOSE_TIMEOUT_MS,
        () =>
          new DbleasesError(
            'REDIS_UNREACHABLE',
            `The Worker of ${this.queueName(partition)} did not close within ${WORKER_CLOSE_TIMEOUT_MS} ms: its blocking connection was disconnected`,
          ),
      );
    } catch (error) {
      this.#error(asError(error), partition);
      // Only the Worker's own blocking connection: the shared one belongs to the user or to us.
      await withTimeout(
        worker.getBackend().disconnectBlocking(false),
        WORKER_CLOSE_TIMEOUT_MS,
        () => error as Error,
      ).catch(() => undefined);
    }
  }

  async #onRevoke(ctx: RevokeContext): Promise<void> {
    const slots = ctx.partitions.map((p) => this.#slots.get(p)).filter((s): s is Slot => s !== undefined);
    if (slots.length === 0) return;
    // Listed: what an `assigned` event announced (a slot stopped while starting never ran a job).
    const announced = slots.filter((slot) => slot.announced);
    await Promise.all(slots.map((slot) => this.#stop(slot, ctx.reason, ctx.signal)));
    if (announced.length === 0) return;
    this.emit('revoked', {
      partitions: announced.map((s) => s.partition).sort((a, b) => a - b),
      reason: ctx.reason,
    });
  }

  protected override emit<E extends keyof PartitionedWorkerEvents<DataType, ResultType, NameType>>(
    event: E,
    ...args: Parameters<PartitionedWorkerEvents<DataType, ResultType, NameType>[E]>
  ): void {
    super.emit(event, ...args);
  }
}
