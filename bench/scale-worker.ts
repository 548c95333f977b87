/**
 * Scenario 5b child: one process serving a PartitionedWorker over many partitions (idle), configured
 * by the JSON in `BENCH_SCALE`. Reports its partitions; on `measure` it counts the Redis commands it
 * sends for `seconds` and replies with them, its RSS and heap, and its open Redis and Postgres
 * sockets (from /proc).
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

import { createClient } from 'dbleases';
import { PartitionedWorker } from 'dbleases/bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

import { DATABASE_URL, REDIS_URL, sleep } from './lib/common.js';
import { commandCounts, diffCounts, installCommandCounter } from './lib/count-commands.js';

export interface ScaleWorkerConfig {
  id: string;
  name: string;
  prefix: string;
  schema: string;
  partitions: number;
  ttl: number;
  heartbeat: number;
  workerOptions: Record<string, unknown>;
}

const send = (msg: Record<string, unknown>) => process.send?.(msg);

/** TCP sockets of this process connected to `port` (Linux /proc; -1 elsewhere). */
export async function socketsTo(port: number): Promise<number> {
  try {
    const inodes = new Set<string>();
    for (const fd of await readdir('/proc/self/fd')) {
      const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(m[1]!);
    }
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    let n = 0;
    for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
      const text = await readFile(file, 'utf8').catch(() => '');
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10) continue;
        const remote = cols[2]!;
        const state = cols[3]!;
        if (state === '01' && remote.endsWith(`:${hexPort}`) && inodes.has(cols[9]!)) n++;
      }
    }
    return n;
  } catch {
    return -1;
  }
}

async function main(): Promise<void> {
  installCommandCounter();
  const cfg = JSON.parse(process.env.BENCH_SCALE ?? '{}') as ScaleWorkerConfig;
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  pool.on('error', () => {});
  const client = await createClient(pool, cfg.id, {
    schema: cfg.schema,
    ttl: cfg.ttl,
    heartbeat: cfg.heartbeat,
  });
  const errors: string[] = [];
  const onError = (e: Error) => {
    if (errors.length < 20) errors.push(e.message);
  };
  client.on('error', onError);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const worker = new PartitionedWorker(cfg.name, async () => undefined, {
    ...cfg.workerOptions,
    client,
    partitions: cfg.partitions,
    connection: redis,
    prefix: cfg.prefix,
  });
  worker.on('error', onError);
  const report = () => send({ type: 'partitions', n: worker.partitions().length });
  worker.on('assigned', report);
  worker.on('revoked', report);
  await worker.waitUntilReady();

  process.on('message', (msg: { type: string; seconds?: number }) => {
    if (msg.type === 'measure') {
      void (async () => {
        const before = commandCounts();
        const cpu0 = process.cpuUsage();
        await sleep((msg.seconds ?? 10) * 1000);
        const cpu = process.cpuUsage(cpu0);
        const sent = diffCounts(before, commandCounts());
        const mem = process.memoryUsage();
        send({
          type: 'measured',
          partitions: worker.partitions().length,
          sent,
          cpuMs: (cpu.user + cpu.system) / 1000,
          rssMiB: mem.rss / 2 ** 20,
          heapMiB: mem.heapUsed / 2 ** 20,
          redisSockets: await socketsTo(Number(new URL(REDIS_URL).port || 6379)),
          pgSockets: await socketsTo(Number(new URL(DATABASE_URL).port || 5432)),
          errors,
        });
      })();
    }
    if (msg.type === 'stop') {
      void (async () => {
        await client.close().catch(onError);
        await worker.close().catch(onError);
        redis.disconnect();
        await pool.end().catch(() => undefined);
        send({ type: 'closed' });
        setTimeout(() => process.exit(0), 100);
      })();
    }
  });
  send({ type: 'ready', pid: process.pid });
}

main().catch((error: unknown) => {
  process.stderr.write(`scale worker failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
