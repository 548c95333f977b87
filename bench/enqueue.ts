/**
 * Scenario 2: enqueue throughput. `PartitionedQueue.add`/`addBulk` (128 partitions, jobs spread over
 * 1000 keys) against plain BullMQ `Queue.add`/`addBulk` into one queue, 100k jobs (quick: 10k).
 * `add`: 64 concurrent callers awaiting one add at a time each (a busy producer); `addBulk`: batches of
 * 1000. A warm-up (one job per key, untimed) creates every partition's Queue first, as in a
 * long-running producer. Runs alternate between the two systems and repeat; the median run is reported.
 */
import { pathToFileURL } from 'node:url';

import { Queue } from 'bullmq';
import { PartitionedQueue } from 'dbleases/bullmq';
import { Redis } from 'ioredis';

import {
  deleteKeys,
  fmt,
  minMedMax,
  REDIS_URL,
  type RunOptions,
  type ScenarioResult,
  table,
  uniqueName,
} from './lib/common.js';
import { loadNow } from './lib/machine.js';

interface Producer {
  add(i: number): Promise<unknown>;
  addBulk(from: number, n: number): Promise<unknown>;
  close(): Promise<void>;
}

const KEYS = 1000;
const PARTITIONS = 128;
const CALLERS = 64;
const BULK = 1000;

function data(i: number) {
  return { k: i % KEYS, s: Math.floor(i / KEYS), payload: 'x'.repeat(64) };
}

function partitioned(redis: Redis, name: string, prefix: string): Producer {
  const q = new PartitionedQueue(name, { partitions: PARTITIONS, connection: redis, prefix });
  return {
    add: (i) => q.add('j', data(i), { partitionKey: `key-${i % KEYS}` }),
    addBulk: (from, n) =>
      q.addBulk(
        Array.from({ length: n }, (_, j) => ({
          name: 'j',
          data: data(from + j),
          opts: { partitionKey: `key-${(from + j) % KEYS}` },
        })),
      ),
    close: () => q.close(),
  };
}

function plain(redis: Redis, name: string, prefix: string): Producer {
  const q = new Queue(name, { connection: redis, prefix });
  return {
    add: (i) => q.add('j', data(i)),
    addBulk: (from, n) =>
      q.addBulk(Array.from({ length: n }, (_, j) => ({ name: 'j', data: data(from + j) }))),
    close: () => q.close(),
  };
}

async function timeRun(
  make: (redis: Redis, name: string, prefix: string) => Producer,
  mode: 'add' | 'addBulk',
  jobs: number,
): Promise<number> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const name = uniqueName('benq');
  const prefix = `bench-${name}`;
  const producer = make(redis, name, prefix);
  try {
    // Warm-up, not timed: connection, Lua scripts, the partition-count check, and every partition's
    // Queue object (a long-running producer has them all).
    await Promise.all(Array.from({ length: KEYS }, (_, i) => producer.add(i - KEYS)));
    const start = performance.now();
    if (mode === 'add') {
      let next = 0;
      await Promise.all(
        Array.from({ length: CALLERS }, async () => {
          while (next < jobs) await producer.add(next++);
        }),
      );
    } else {
      for (let i = 0; i < jobs; i += BULK) await producer.addBulk(i, Math.min(BULK, jobs - i));
    }
    return jobs / ((performance.now() - start) / 1000);
  } finally {
    await producer.close();
    await deleteKeys(redis, `${prefix}:*`);
    redis.disconnect();
  }
}

export async function run(opts: RunOptions): Promise<ScenarioResult> {
  const jobs = opts.quick ? 10_000 : 100_000;
  const reps = opts.quick ? 1 : 2;
  const rows: Array<Array<string | number>> = [];
  const data: Record<string, unknown> = {
    jobs,
    reps,
    partitions: PARTITIONS,
    keys: KEYS,
    callers: CALLERS,
    bulk: BULK,
    loadavgBefore: loadNow(),
  };
  for (const mode of ['add', 'addBulk'] as const) {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < reps; r++) {
      // Alternate the order so that neither system always runs on a warmer (or busier) machine.
      const first = r % 2 === 0;
      if (first) ours.push(await timeRun(partitioned, mode, jobs));
      theirs.push(await timeRun(plain, mode, jobs));
      if (!first) ours.push(await timeRun(partitioned, mode, jobs));
      opts.log(
        `[enqueue ${mode}] rep ${r + 1}: PartitionedQueue ${Math.round(ours.at(-1)!)} jobs/s, Queue ${Math.round(theirs.at(-1)!)} jobs/s`,
      );
    }
    const o = minMedMax(ours);
    const t = minMedMax(theirs);
    data[mode] = { partitionedQueue: ours, queue: theirs };
    rows.push([
      `\`${mode}\``,
      fmt(o.median),
      `${fmt(o.min)}–${fmt(o.max)}`,
      fmt(t.median),
      `${fmt(t.min)}–${fmt(t.max)}`,
      `${fmt(o.median / t.median, 2)}×`,
    ]);
  }
  data.loadavgAfter = loadNow();
  return {
    scenario: 'enqueue',
    title: `Scenario 2 — enqueue: ${jobs.toLocaleString('en-US')} jobs, PartitionedQueue (${PARTITIONS} partitions, ${KEYS} keys) vs one BullMQ Queue`,
    method: [
      `\`add\`: ${CALLERS} concurrent callers, each awaiting one add at a time; \`addBulk\`: sequential batches of ${BULK}.`,
      `Median of ${reps} run(s) per system, alternating which system goes first; 64-byte payload; target ≥ 0.95×.`,
    ],
    tables: [table(['method', 'PartitionedQueue jobs/s', 'range', 'Queue jobs/s', 'range', 'ratio'], rows)],
    data,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await run({
    quick: process.argv.includes('--quick'),
    log: (m) => process.stderr.write(`${m}\n`),
  });
  for (const t of r.tables) process.stdout.write(`${t}\n\n`);
}
