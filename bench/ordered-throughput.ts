/**
 * Scenario 1: ordered processing throughput. 100k jobs (quick: 10k) over 1000 keys, each carrying
 * its key's sequence number; a no-op processor that checks per-key order; two consumer processes for
 * every system: dbleases PartitionedWorker (ordered, 32 and 128 partitions), groupmq (concurrency 32
 * per process, group = key) and plain BullMQ (one queue, concurrency 32 per process, unordered: the
 * ceiling).
 *
 * Method (the same for every system):
 * 1. pre-fill all jobs (dbleases: into paused partition queues),
 * 2. start both consumer processes; dbleases: wait until the lease gave each process its half,
 * 3. release them together (resume the partition queues / start the Workers) and time from the
 *    release to the last completion: jobs/s = jobs / that time;
 * 4. then stream jobs at a fixed rate for a few seconds into the same running consumers and take
 *    enqueue→completion latency of those (a pre-filled backlog's latency is only its queueing time).
 * Order is checked inside each processor (per process) and globally in the parent from every
 * completion's key, sequence number and completion time.
 */
import { pathToFileURL } from 'node:url';

import { fmt, type RunOptions, type ScenarioResult, table } from './lib/common.js';
import type { Variant } from './lib/systems.js';
import { runOrdered, type ThroughputResult } from './lib/throughput.js';

/** Lease settings for the throughput runs: short, so the two processes split the partitions within ~1–2 s. */
export const LEASE = { ttl: 2_000, heartbeat: 500 } as const;

/**
 * Options a user can set (no change to the adapter). Applied to dbleases and plain BullMQ alike;
 * groupmq already deletes completed jobs by default (`keepCompleted: 0`).
 */
export const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: 1000 } as const;

export function variants(): Variant[] {
  const base = { workerOptions: {}, jobOptions: JOB_OPTIONS, ...LEASE };
  return [
    { ...base, label: 'dbleases, 32 partitions', system: 'dbleases', partitions: 32, concurrency: 1 },
    { ...base, label: 'dbleases, 128 partitions', system: 'dbleases', partitions: 128, concurrency: 1 },
    {
      ...base,
      label: 'groupmq, concurrency 32',
      system: 'groupmq',
      partitions: 0,
      concurrency: 32,
      jobOptions: {},
    },
    {
      ...base,
      label: 'BullMQ, concurrency 32 (unordered)',
      system: 'bullmq',
      partitions: 0,
      concurrency: 32,
    },
  ];
}

export function plan(quick: boolean) {
  return quick
    ? { jobs: 10_000, keys: 1000, batch: 1000, streamRate: 500, streamSeconds: 1, processes: 2 }
    : { jobs: 100_000, keys: 1000, batch: 1000, streamRate: 1000, streamSeconds: 8, processes: 2 };
}

export async function run(opts: RunOptions, only?: (v: Variant) => boolean): Promise<ScenarioResult> {
  const p = plan(opts.quick);
  const results: ThroughputResult[] = [];
  for (const v of variants().filter(only ?? (() => true))) {
    results.push(await runOrdered(v, { ...p, log: opts.log }));
  }
  const find = (system: string) => results.find((r) => r.system === system);
  const gmq = find('groupmq');
  const bull = find('bullmq');
  const ratio = (r: ThroughputResult, ref: ThroughputResult | undefined) =>
    ref ? `${fmt(r.jobsPerSec / ref.jobsPerSec, 2)}×` : '–';
  const main = table(
    [
      'system',
      'jobs/s',
      '× groupmq',
      '× BullMQ',
      `p50 ms @${p.streamRate}/s`,
      'p99 ms',
      'order violations',
      'duplicates',
      'missing',
    ],
    results.map((r) => [
      r.label,
      fmt(r.jobsPerSec),
      ratio(r, gmq),
      ratio(r, bull),
      fmt(r.stream?.p50Ms),
      fmt(r.stream?.p99Ms),
      r.order.violations + r.localViolations,
      r.order.duplicates,
      r.order.missing,
    ]),
  );
  const cost = table(
    [
      'system',
      'requests sent/job',
      'top requests per job',
      'Redis CPU ms per 1000 jobs',
      'consumer CPU ms per 1000 jobs',
      'RSS MiB',
    ],
    results.map((r) => [
      r.label,
      fmt(r.sentPerJob.total, 2),
      Object.entries(r.sentPerJob.byCommand)
        .slice(0, 2)
        .map(([cmd, n]) => `${cmd.replace(/:\d+\.\d+\.\d+$/, '')} ${fmt(n, 2)}`)
        .join(', '),
      fmt(r.redisCpuMsPer1000),
      fmt(r.consumerCpuMsPer1000),
      r.processes.map((x) => x.rssMiB).join(' / '),
    ]),
  );
  return {
    scenario: 'ordered-throughput',
    title: `Scenario 1 — ordered throughput: ${p.jobs.toLocaleString('en-US')} jobs over ${p.keys} keys, ${p.processes} consumer processes per system`,
    method: [
      'Pre-filled, then both consumer processes released together; jobs/s = jobs / (release → last completion).',
      `dbleases: partition queues paused during pre-fill and until the lease split them (ttl ${LEASE.ttl} ms, heartbeat ${LEASE.heartbeat} ms).`,
      `Latency: a separate stream at ${p.streamRate} jobs/s for ${p.streamSeconds} s into the running consumers, enqueue → 'completed' event.`,
      `Job options (dbleases and BullMQ): ${JSON.stringify(JOB_OPTIONS)}; groupmq defaults (keepCompleted 0). No other tuning.`,
      'Requests sent/job: commands the two consumer processes sent during the drain (counted in ioredis), per job.',
      "Redis CPU: INFO cpu (used_cpu_user + used_cpu_sys) over the drain, per 1000 jobs (shared Redis: includes other clients' traffic). Consumer CPU: both processes, drain only.",
    ],
    tables: [main, cost],
    data: { plan: p, results },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  const filter = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const r = await run(
    { quick, log: (m) => process.stderr.write(`${m}\n`) },
    filter ? (v) => v.label.includes(filter) : undefined,
  );
  for (const t of r.tables) process.stdout.write(`${t}\n\n`);
}
