/**
 * One consumer process of the throughput scenarios (1 and 6): a PartitionedWorker, a groupmq
 * Worker or a plain BullMQ Worker, configured by the JSON in `BENCH_CONSUMER`. The processor is a
 * no-op that checks per-key order within this process; every completion is reported to the parent
 * as `[key, seq, enqueuedAt, completedAt]` (batched every 100 ms) so the parent checks order and
 * latency across processes.
 *
 * Parent → child: `go` (start consuming; a PartitionedWorker consumes as soon as it owns partitions,
 * the parent gates it by pausing the partition queues), `stop` (graceful close, then exit).
 * `snapshot` (reply: Redis commands this process sent so far, by name, and its CPU time).
 * Child → parent: `ready`, `partitions` (PartitionedWorker, after every change), `done`, `snapshot`, `closed`.
 */
import { Worker, type WorkerOptions } from 'bullmq';
import { createClient } from 'dbleases';
import { PartitionedWorker, type PartitionedWorkerOptions } from 'dbleases/bullmq';
import { Queue as GroupQueue, Worker as GroupWorker } from 'groupmq';
import { Redis } from 'ioredis';
import pg from 'pg';

import { DATABASE_URL, now, REDIS_URL } from './lib/common.js';
import { commandCounts, installCommandCounter } from './lib/count-commands.js';

/**
 * `bullmq-static`: the partition queues of a PartitionedQueue consumed by plain BullMQ Workers
 * (concurrency 1 each) on a fixed split (partition p in process p mod processes), no lease: what the
 * adapter costs on top of BullMQ (profiling only).
 */
export type System = 'dbleases' | 'groupmq' | 'bullmq' | 'bullmq-static';

export interface ConsumerConfig {
  system: System;
  /** Lease client id (dbleases), worker name otherwise. */
  id: string;
  /** Partitioned queue base name, BullMQ queue name, or groupmq namespace. */
  name: string;
  prefix: string;
  /** dbleases: partitions; others: ignored. */
  partitions: number;
  /** groupmq / BullMQ Worker concurrency (dbleases: 1 per partition, fixed). */
  concurrency: number;
  /** dbleases lease settings. */
  schema: string;
  ttl: number;
  heartbeat: number;
  /** Extra Worker options (dbleases: PartitionedWorker options; bullmq: WorkerOptions). */
  workerOptions: Record<string, unknown>;
  /** Distinct keys (for the order check arrays). */
  keys: number;
  /** dbleases / bullmq-static: declare the processor with three parameters (BullMQ then creates an AbortSignal per job). */
  withSignal: boolean;
  /** This process's index among `processes` (bullmq-static). */
  index: number;
  processes: number;
}

/** Job payload: key index, its sequence number, enqueue time. */
export interface BenchData {
  k: number;
  s: number;
  t: number;
}

const send = (msg: Record<string, unknown>) => process.send?.(msg);

async function main(): Promise<void> {
  installCommandCounter();
  const cfg = JSON.parse(process.env.BENCH_CONSUMER ?? '{}') as ConsumerConfig;
  const last = new Float64Array(cfg.keys).fill(-1);
  let violations = 0;
  let repeats = 0;
  let processed = 0;
  let recs: number[] = [];
  const check = (d: BenchData) => {
    processed++;
    const prev = last[d.k]!;
    if (d.s < prev) violations++;
    else if (d.s === prev) repeats++;
    else last[d.k] = d.s;
  };
  const record = (d: BenchData) => {
    recs.push(d.k, d.s, d.t, now());
  };
  const flush = () => {
    if (recs.length === 0) return;
    send({ type: 'done', recs });
    recs = [];
  };
  const flushTimer = setInterval(flush, 100);
  const errors: string[] = [];
  const onError = (where: string) => (e: Error) => {
    if (errors.length < 20) errors.push(`${where}: ${e.message}`);
  };

  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  let go: () => void = () => {};
  let stop: () => Promise<void>;

  if (cfg.system === 'dbleases') {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 3 });
    pool.on('error', () => {});
    const client = await createClient(pool, cfg.id, {
      schema: cfg.schema,
      ttl: cfg.ttl,
      heartbeat: cfg.heartbeat,
    });
    client.on('error', onError('client'));
    // A processor that declares no `signal` parameter (this one has no use for it): the adapter then
    // spares BullMQ an AbortController per job. `withSignal` declares it, to measure the difference.
    const processor = cfg.withSignal
      ? async (job: { data: BenchData }, _token?: string, _signal?: AbortSignal) => {
          check(job.data);
        }
      : async (job: { data: BenchData }) => {
          check(job.data);
        };
    const worker = new PartitionedWorker<BenchData>(cfg.name, processor, {
      ...(cfg.workerOptions as Partial<PartitionedWorkerOptions>),
      client,
      partitions: cfg.partitions,
      connection: redis,
      prefix: cfg.prefix,
    });
    worker.on('error', onError('worker'));
    worker.on('completed', (job) => record(job.data));
    const report = () => send({ type: 'partitions', n: worker.partitions().length, at: now() });
    worker.on('assigned', report);
    worker.on('revoked', report);
    await worker.waitUntilReady();
    stop = async () => {
      await client.close();
      await worker.close();
      await pool.end();
    };
  } else if (cfg.system === 'bullmq-static') {
    const workers: Worker<BenchData>[] = [];
    const plain = async (job: { data: BenchData }) => {
      check(job.data);
    };
    const withSignal = async (job: { data: BenchData }, _token?: string, _signal?: AbortSignal) => {
      check(job.data);
    };
    for (let p = cfg.index; p < cfg.partitions; p += cfg.processes) {
      const worker = new Worker<BenchData>(`${cfg.name}-${p}`, cfg.withSignal ? withSignal : plain, {
        ...(cfg.workerOptions as Partial<WorkerOptions>),
        connection: redis,
        prefix: cfg.prefix,
        concurrency: 1,
        autorun: false,
        name: cfg.id,
      });
      worker.on('error', onError('worker'));
      worker.on('completed', (job) => record(job.data));
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    go = () => {
      for (const w of workers) w.run().catch(onError('run'));
    };
    stop = async () => {
      await Promise.all(workers.map((w) => w.close()));
    };
  } else if (cfg.system === 'bullmq') {
    const worker = new Worker<BenchData>(
      cfg.name,
      async (job) => {
        check(job.data);
      },
      {
        ...(cfg.workerOptions as Partial<WorkerOptions>),
        connection: redis,
        prefix: cfg.prefix,
        concurrency: cfg.concurrency,
        autorun: false,
        name: cfg.id,
      },
    );
    worker.on('error', onError('worker'));
    worker.on('completed', (job) => record(job.data));
    await worker.waitUntilReady();
    go = () => {
      worker.run().catch(onError('run'));
    };
    stop = () => worker.close();
  } else {
    const queue = new GroupQueue<BenchData>({ redis, namespace: cfg.name, jobTimeoutMs: 30_000 });
    let worker: GroupWorker<BenchData> | undefined;
    go = () => {
      worker = new GroupWorker<BenchData>({
        queue,
        name: cfg.id,
        concurrency: cfg.concurrency,
        handler: async (job) => {
          check(job.data);
        },
      });
      worker.on('error', onError('worker'));
      worker.on('completed', (job) => record(job.data));
    };
    stop = async () => {
      await worker?.close(5_000);
    };
  }

  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'go') go();
    if (msg.type === 'snapshot') {
      const cpu = process.cpuUsage();
      send({ type: 'snapshot', counts: commandCounts(), cpuMs: (cpu.user + cpu.system) / 1000, processed });
    }
    if (msg.type === 'stop') {
      void (async () => {
        await stop().catch(onError('stop'));
        flush();
        clearInterval(flushTimer);
        const cpu = process.cpuUsage();
        send({
          type: 'closed',
          processed,
          violations,
          repeats,
          errors,
          cpuMs: Math.round((cpu.user + cpu.system) / 1000),
          rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
        });
        redis.disconnect();
        // Give the IPC channel time to deliver before exiting.
        setTimeout(() => process.exit(0), 100);
      })();
    }
  });
  send({ type: 'ready', pid: process.pid });
}

main().catch((error: unknown) => {
  process.stderr.write(`consumer failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
