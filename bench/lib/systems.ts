/**
 * The producer side and the consumer processes of one system under test, so that the throughput
 * scenarios treat dbleases, groupmq and plain BullMQ alike.
 */
import { Queue } from 'bullmq';
import { migrate, toDbPort } from 'dbleases';
import { PartitionedQueue } from 'dbleases/bullmq';
import { Queue as GroupQueue } from 'groupmq';
import { Redis } from 'ioredis';
import pg from 'pg';

import type { BenchData, ConsumerConfig, System } from '../consumer.js';
import { BenchChild, type Message } from './child.js';
import { DATABASE_URL, deleteKeys, REDIS_URL, uniqueName, waitFor } from './common.js';

export interface Variant {
  label: string;
  system: System;
  /** dbleases: partition count. */
  partitions: number;
  /** groupmq / BullMQ: Worker concurrency per process. */
  concurrency: number;
  /** Worker options set by the benchmark (documented in the output). */
  workerOptions: Record<string, unknown>;
  /** BullMQ job options on add (dbleases and BullMQ). */
  jobOptions: Record<string, unknown>;
  /** dbleases / bullmq-static: a processor declaring `(job, token, signal)`, so BullMQ creates an AbortController per job. */
  withSignal?: boolean;
  /** bullmq-static: set BullMQ global concurrency 1 on every partition queue (as ordered dbleases does). */
  globalConcurrency?: boolean;
  /** Lease ttl/heartbeat (dbleases). */
  ttl: number;
  heartbeat: number;
}

export interface Job {
  key: number;
  seq: number;
}

/** Where one system's keys live, and how to produce into it. */
export class SystemUnderTest {
  readonly variant: Variant;
  readonly name: string;
  readonly prefix: string;
  readonly schema: string;
  readonly redis: Redis;
  readonly #pool: pg.Pool | undefined;
  #pq: PartitionedQueue<BenchData> | undefined;
  #bq: Queue<BenchData> | undefined;
  #gq: GroupQueue<BenchData> | undefined;
  readonly children: BenchChild[] = [];
  #spawned = 0;

  constructor(variant: Variant, keys: number) {
    this.variant = variant;
    this.keys = keys;
    const tag = variant.label
      .replace(/[^a-z0-9]+/gi, '')
      .toLowerCase()
      .slice(0, 12);
    this.name = uniqueName(`b${tag}`);
    this.prefix = `bench-${this.name}`;
    this.schema = this.name;
    this.redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    this.#pool =
      variant.system === 'dbleases' ? new pg.Pool({ connectionString: DATABASE_URL, max: 2 }) : undefined;
  }

  readonly keys: number;

  /** The Redis key pattern this system writes (for cleanup). */
  get pattern(): string {
    return this.variant.system === 'groupmq' ? `groupmq:${this.name}*` : `${this.prefix}:*`;
  }

  async setUp(): Promise<void> {
    await deleteKeys(this.redis, this.pattern);
    const v = this.variant;
    if (v.system === 'bullmq-static') {
      this.#pq = new PartitionedQueue<BenchData>(this.name, {
        partitions: v.partitions,
        connection: this.redis,
        prefix: this.prefix,
      });
      await this.#pq.waitUntilReady();
      if (v.globalConcurrency)
        await Promise.all(
          Array.from({ length: v.partitions }, (_, p) => this.#pq!.queue(p).setGlobalConcurrency(1)),
        );
    } else if (v.system === 'dbleases') {
      await migrate(toDbPort(this.#pool), {
        schema: this.schema,
        tablePrefix: 'db_leases',
        timeoutMs: 10_000,
      });
      this.#pq = new PartitionedQueue<BenchData>(this.name, {
        partitions: v.partitions,
        connection: this.redis,
        prefix: this.prefix,
      });
      await this.#pq.waitUntilReady();
    } else if (v.system === 'bullmq') {
      this.#bq = new Queue<BenchData>(this.name, { connection: this.redis, prefix: this.prefix });
      await this.#bq.waitUntilReady();
    } else {
      this.#gq = new GroupQueue<BenchData>({ redis: this.redis, namespace: this.name, jobTimeoutMs: 30_000 });
    }
  }

  /** dbleases: pause (or resume) every partition queue, so consumers start together once the lease settled. */
  async setPaused(paused: boolean): Promise<void> {
    const pq = this.#pq;
    if (pq === undefined) return;
    await Promise.all(
      Array.from({ length: pq.partitions }, (_, p) => (paused ? pq.queue(p).pause() : pq.queue(p).resume())),
    );
  }

  /** Enqueues one batch (one `addBulk` for dbleases/BullMQ; concurrent `add`s for groupmq, which has no bulk add). */
  async add(jobs: Job[], t: number): Promise<void> {
    const opts = this.variant.jobOptions;
    if (this.#pq) {
      await this.#pq.addBulk(
        jobs.map((j) => ({
          name: 'j',
          data: { k: j.key, s: j.seq, t },
          opts: { ...opts, partitionKey: `key-${j.key}` },
        })),
      );
    } else if (this.#bq) {
      await this.#bq.addBulk(jobs.map((j) => ({ name: 'j', data: { k: j.key, s: j.seq, t }, opts })));
    } else if (this.#gq) {
      const gq = this.#gq;
      await Promise.all(
        jobs.map((j) => gq.add({ groupId: `key-${j.key}`, data: { k: j.key, s: j.seq, t }, maxAttempts: 1 })),
      );
    }
  }

  consumerConfig(id: string, index: number, processes: number): ConsumerConfig {
    const v = this.variant;
    return {
      system: v.system,
      id,
      name: this.name,
      prefix: this.prefix,
      partitions: v.partitions,
      concurrency: v.concurrency,
      schema: this.schema,
      ttl: v.ttl,
      heartbeat: v.heartbeat,
      workerOptions: v.workerOptions,
      keys: this.keys,
      withSignal: v.withSignal === true,
      index,
      processes,
    };
  }

  /** Starts one consumer process and waits for its `ready`. */
  async spawn(
    onMessage: (msg: Message, child: BenchChild) => void,
    execArgv: string[] = [],
    index = 0,
    processes = 1,
  ): Promise<BenchChild> {
    const id = `${this.variant.system}-${++this.#spawned}`;
    const config = this.consumerConfig(id, index, processes);
    const child = new BenchChild(
      'consumer.ts',
      `${this.variant.label} ${id}`,
      { BENCH_CONSUMER: JSON.stringify(config) },
      execArgv,
    );
    child.on((msg) => onMessage(msg, child));
    this.children.push(child);
    await child.next('ready', 30_000);
    return child;
  }

  /** dbleases: resolves once the live children own `partitions / n` (±1) each and all partitions are covered. */
  async waitBalanced(counts: Map<BenchChild, number>, live: BenchChild[], timeoutMs: number): Promise<void> {
    const p = this.variant.partitions;
    await waitFor(
      'the lease to split the partitions',
      () => {
        const n = live.map((c) => counts.get(c) ?? 0);
        const sum = n.reduce((a, b) => a + b, 0);
        return sum === p && Math.max(...n) - Math.min(...n) <= 1;
      },
      timeoutMs,
    );
  }

  /** Jobs still waiting or active (dbleases / bullmq-static partition queues). */
  async pending(): Promise<number> {
    if (!this.#pq) return Number.NaN;
    const c = await this.#pq.getJobCounts('waiting', 'active');
    return (c.waiting ?? 0) + (c.active ?? 0);
  }

  async tearDown(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop()));
    await deleteKeys(this.redis, this.pattern);
    await this.#pq?.close();
    await this.#bq?.close();
    await this.#gq?.close().catch(() => undefined);
    if (this.#pool) {
      await this.#pool.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`).catch(() => undefined);
      await this.#pool.end();
    }
    this.redis.disconnect();
  }
}
