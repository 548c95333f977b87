/**
 * One demo worker, wherever it runs (a child process, or inside the demo with PGlite): a lease client
 * and a `PartitionedWorker` whose processor sleeps a little (so faults hit in-flight jobs) and reports
 * each execution. It reports messages through `report`:
 * - `ready` { pid }; `values` { values, epochs }: the lease's `values()`, sampled every 5 ms and sent
 *   on change and at least every 25 ms, so the parent knows the last instant each partition was listed;
 * - `start` / `end` { key, seq, partition, epoch, start?, end? }: one job execution;
 * - `error` { message } (the first few), `fatal` { message }.
 */
import { Redis } from 'ioredis';

import { jobPartition, PartitionedWorker } from '../../bullmq/index.js';
import { createClient } from '../../index.js';

export const now = () => performance.timeOrigin + performance.now();

export interface WorkerConfig {
  id: string;
  schema: string;
  partitions: number;
  ttl: number;
  heartbeat: number;
  redisUrl: string;
  prefix: string;
  queue: string;
  /** Simulated work per job: uniform in [workMs / 2, workMs * 1.5]. */
  workMs: number;
}

export interface JobData {
  key: string;
  seq: number;
}

export type Report = (message: { t: number; type: string } & Record<string, unknown>) => void;

export interface RunningWorker {
  /** Graceful: hands the partitions over (in-flight jobs finish), then leaves. */
  close(): Promise<void>;
}

export async function startWorker(db: unknown, cfg: WorkerConfig, report: Report): Promise<RunningWorker> {
  const out = (type: string, data: Record<string, unknown> = {}) => report({ t: now(), type, ...data });
  let errors = 0;
  const error = (e: Error) => {
    if (++errors <= 5) out('error', { message: e.message });
  };
  const client = await createClient(db, cfg.id, {
    schema: cfg.schema,
    ttl: cfg.ttl,
    heartbeat: cfg.heartbeat,
    migrationTimeout: 20_000,
    info: { role: 'demo-worker' },
  });
  client.on('error', error);
  const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: null, connectionName: `${cfg.id}-shared` });
  redis.on('error', error);
  const worker = new PartitionedWorker<JobData, number>(
    cfg.queue,
    async (job) => {
      const { partition, epoch } = jobPartition(job)!;
      const { key, seq } = job.data;
      const start = now();
      out('start', { key, seq, partition, epoch });
      await new Promise((r) => setTimeout(r, cfg.workMs * (0.5 + Math.random())));
      out('end', { key, seq, partition, epoch, start, end: now() });
      return seq;
    },
    {
      client,
      partitions: cfg.partitions,
      connection: redis,
      prefix: cfg.prefix,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 1000 },
    },
  );
  worker.on('error', error);
  await worker.waitUntilReady();
  const lease = worker.lease!;

  let last = '';
  let sentAt = 0;
  const sample = setInterval(() => {
    const values = lease.values();
    const key = values.join(',');
    if (key !== last || now() - sentAt >= 25) {
      last = key;
      sentAt = now();
      out('values', { values, epochs: values.map((p) => lease.epoch(p)) });
    }
  }, 5);
  out('ready', { pid: process.pid });

  let closing: Promise<void> | undefined;
  return {
    close: () =>
      (closing ??= (async () => {
        await worker.close();
        await client.close();
        clearInterval(sample);
        out('values', { values: lease.values(), epochs: [] });
        await redis.quit().catch(() => redis.disconnect());
        out('closed');
      })()),
  };
}
