/**
 * Profiling for bench/FINDINGS.md (not part of `npm run bench`): A/B runs that isolate what the
 * BullMQ adapter costs per job and when idle, on a private `redis-server` started here (so INFO
 * commandstats and Redis CPU count only these runs; the CPU is still shared with whatever else runs).
 *
 *   npx tsx bench/profile.ts [--jobs=20000] [--reps=1] [--only=a|b] [--cpu-prof=DIR] [--idle-only] [--no-idle] [--out=profile]
 *
 * Throughput variants (ordered-throughput method, 2 consumer processes, 1000 keys, no stream):
 * - dbleases 32 partitions, BullMQ job defaults (completed jobs kept) vs `removeOnComplete: true`;
 * - the same 32 partition queues consumed by plain BullMQ Workers on a fixed split (no lease, no
 *   adapter), bare / + the adapter's always-on limiter / + limiter and global concurrency 1:
 *   the difference to dbleases is the adapter's own JavaScript;
 * - plain BullMQ one queue concurrency 32, and groupmq, for reference.
 * Events stream: one queue's events stream filled to BullMQ's default cap, its memory.
 * Idle variants: one process, a PartitionedWorker over 256 partitions, idle, commands counted over
 * 60 s, with the old (BullMQ-like) and the current `drainDelay` / `stalledInterval` defaults.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';

const args = process.argv.slice(2);
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const server = spawn(
  'redis-server',
  [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxclients',
    '10000',
  ],
  {
    stdio: 'ignore',
  },
);
process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
const stopServer = () => {
  if (server.exitCode === null) server.kill('SIGTERM');
};
process.on('exit', stopServer);

try {
  // Import after REDIS_URL is set: the modules read it at load time.
  const { fmt, table, waitFor, writeResult, uniqueName, deleteKeys, DATABASE_URL, REDIS_URL } =
    await import('./lib/common.js');
  const { runOrdered } = await import('./lib/throughput.js');
  const { loadNow } = await import('./lib/machine.js');
  const { BenchChild } = await import('./lib/child.js');
  const { Redis } = await import('ioredis');
  const pg = (await import('pg')).default;
  const { migrate, toDbPort } = await import('dbleases');
  type Variant = import('./lib/systems.js').Variant;
  type ThroughputResult = import('./lib/throughput.js').ThroughputResult;

  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  await waitFor(
    'the private redis-server',
    async () => (await redis.ping().catch(() => '')) === 'PONG',
    10_000,
    50,
  );
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const jobs = Number(arg('jobs') ?? 20_000);
  const onlyList = arg('only')?.split('|');
  const only = onlyList
    ? { includes: (label: string) => onlyList.some((o) => label.includes(o)) }
    : undefined;
  const cpuProfDir = arg('cpu-prof');
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  const lease = { ttl: 2_000, heartbeat: 500 };
  const remove = { removeOnComplete: true, removeOnFail: 1000 };
  const limiter = { limiter: { max: 1_000_000_000, duration: 1_000 } };
  const base = { workerOptions: {}, jobOptions: remove, concurrency: 1, ...lease };
  const variants: Variant[] = [
    {
      ...base,
      label: 'dbleases 32, BullMQ job defaults (keep completed)',
      system: 'dbleases',
      partitions: 32,
      jobOptions: {},
    },
    { ...base, label: 'dbleases 32, removeOnComplete', system: 'dbleases', partitions: 32 },
    {
      ...base,
      label: 'dbleases 32, removeOnComplete, processor declares signal',
      system: 'dbleases',
      partitions: 32,
      withSignal: true,
    },
    { ...base, label: 'dbleases 128, removeOnComplete', system: 'dbleases', partitions: 128 },
    { ...base, label: 'static 32 BullMQ Workers, bare', system: 'bullmq-static', partitions: 32 },
    {
      ...base,
      label: 'static 32 + limiter',
      system: 'bullmq-static',
      partitions: 32,
      workerOptions: limiter,
    },
    {
      ...base,
      label: 'static 32 + limiter + global concurrency 1',
      system: 'bullmq-static',
      partitions: 32,
      workerOptions: limiter,
      globalConcurrency: true,
    },
    {
      ...base,
      label: 'static 32 + limiter + global concurrency 1 + AbortSignal',
      system: 'bullmq-static',
      partitions: 32,
      workerOptions: limiter,
      globalConcurrency: true,
      withSignal: true,
    },
    { ...base, label: 'BullMQ 1 queue, concurrency 32', system: 'bullmq', partitions: 0, concurrency: 32 },
    {
      ...base,
      label: 'groupmq, concurrency 32',
      system: 'groupmq',
      partitions: 0,
      concurrency: 32,
      jobOptions: {},
    },
  ];
  const reps = Number(arg('reps') ?? 1);
  const runs: ThroughputResult[] = [];
  if (!args.includes('--idle-only')) {
    // Repetitions interleave the variants, so that a busy minute on the shared machine hits all of them.
    for (let rep = 0; rep < reps; rep++) {
      for (const v of variants.filter((x) => !only || only.includes(x.label))) {
        await redis.flushall();
        const execArgv = cpuProfDir
          ? ['--cpu-prof', '--cpu-prof-dir', `${cpuProfDir}/${v.label.replace(/[^a-z0-9]+/gi, '-')}`]
          : [];
        runs.push(
          await runOrdered(v, {
            jobs,
            keys: 1000,
            batch: 1000,
            streamRate: 0,
            streamSeconds: 0,
            processes: 2,
            execArgv,
            statsRedis: redis,
            log,
          }),
        );
      }
    }
  }
  // Per variant, the run with the median consumer CPU per job (CPU per job is steadier than jobs/s on a shared machine).
  const results: ThroughputResult[] = [];
  const spread = new Map<string, { jobsPerSec: number[]; redisCpu: number[]; consumerCpu: number[] }>();
  for (const v of variants) {
    const mine = runs.filter((r) => r.label === v.label);
    if (mine.length === 0) continue;
    const sorted = [...mine].sort((a, b) => a.consumerCpuMsPer1000 - b.consumerCpuMsPer1000);
    results.push(sorted[Math.floor((sorted.length - 1) / 2)]!);
    spread.set(v.label, {
      jobsPerSec: mine.map((r) => Math.round(r.jobsPerSec)),
      redisCpu: mine.map((r) => Math.round(r.redisCpuMsPer1000)),
      consumerCpu: mine.map((r) => Math.round(r.consumerCpuMsPer1000)),
    });
  }
  const evalshaUs = (r: ThroughputResult) =>
    r.redisPerJob.top.filter((t) => t.cmd === 'evalsha').reduce((a, t) => a + t.usec, 0);
  const throughputTable = table(
    [
      'variant',
      'jobs/s (runs)',
      'Redis CPU ms / 1000 jobs (runs)',
      'evalsha µs/job',
      'consumer CPU ms / 1000 jobs (runs)',
      'requests/job',
      'Redis MiB after drain',
      'order violations',
    ],
    results.map((r) => [
      r.label,
      spread.get(r.label)!.jobsPerSec.join(' / '),
      spread.get(r.label)!.redisCpu.join(' / '),
      fmt(evalshaUs(r)),
      spread.get(r.label)!.consumerCpu.join(' / '),
      fmt(r.sentPerJob.total, 3),
      fmt(r.usedMemoryMiB),
      r.order.violations + r.localViolations,
    ]),
  );
  const inner = results.map((r) => ({
    label: r.label,
    serverCommandsPerJob: r.redisPerJob.top
      .filter((t) => t.cmd !== 'evalsha' && t.calls >= 0.05)
      .map((t) => `${t.cmd} ${fmt(t.calls, 2)}`)
      .join(', '),
  }));

  // Idle cost per partition Worker.
  const idle: Array<{
    label: string;
    partitions: number;
    commandsPerSec: number;
    perWorkerPerMin: number;
    byCommandPerSec: Record<string, number>;
    cpuPercent: number;
    rssMiB: number;
  }> = [];
  if (!args.includes('--no-idle')) {
    const idleVariants: Array<{ label: string; workerOptions: Record<string, unknown> }> = [
      {
        label: 'drainDelay 5 s, stalledInterval 6 s (the defaults before f2d2ba0)',
        workerOptions: { drainDelay: 5, stalledInterval: 6_000 },
      },
      {
        label: 'drainDelay 60 s, stalledInterval 6 s',
        workerOptions: { drainDelay: 60, stalledInterval: 6_000 },
      },
      { label: 'adapter defaults (drainDelay 60 s, stalledInterval max(ttl, 30 s))', workerOptions: {} },
    ];
    const partitions = 256;
    const seconds = 60; // one full drainDelay, or an idle Worker may show no traffic at all
    for (const iv of idleVariants.filter((x) => !only || only.includes(x.label))) {
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
      const schema = uniqueName('bprofidle');
      await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
      const cfg = {
        id: `idle-${schema}`,
        name: schema,
        prefix: `bench-${schema}`,
        schema,
        partitions,
        ttl: 6_000,
        heartbeat: 2_000,
        workerOptions: iv.workerOptions,
      };
      const child = new BenchChild('scale-worker.ts', `idle ${iv.label}`, {
        BENCH_SCALE: JSON.stringify(cfg),
      });
      let owned = 0;
      child.on((m) => {
        if (m.type === 'partitions') owned = m.n as number;
      });
      try {
        await child.next('ready', 60_000);
        await waitFor('all partitions started', () => owned === partitions, 60_000, 50);
        await new Promise((r) => setTimeout(r, 7_000)); // past the first drainDelay/stalled cycles: steady state
        const reply = child.next('measured', (seconds + 30) * 1000);
        child.send({ type: 'measure', seconds });
        const m = await reply;
        const sent = m.sent as Record<string, number>;
        const total = Object.values(sent).reduce((a, b) => a + b, 0);
        idle.push({
          label: iv.label,
          partitions,
          commandsPerSec: total / seconds,
          perWorkerPerMin: (total / seconds / partitions) * 60,
          byCommandPerSec: Object.fromEntries(Object.entries(sent).map(([k, v]) => [k, v / seconds])),
          cpuPercent: ((m.cpuMs as number) / (seconds * 1000)) * 100,
          rssMiB: m.rssMiB as number,
        });
        log(`[idle] ${iv.label}: ${fmt(total / seconds)} commands/s`);
      } finally {
        await child.stop(30_000);
        await deleteKeys(redis, `bench-${schema}:*`);
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
        await pool.end();
      }
    }
  }
  const idleTable = table(
    [
      'idle PartitionedWorker, 256 partitions',
      'commands/s',
      'per Worker per minute',
      'by command /s',
      'CPU %',
      'RSS MiB',
    ],
    idle.map((i) => [
      i.label,
      fmt(i.commandsPerSec),
      fmt(i.perWorkerPerMin),
      Object.entries(i.byCommandPerSec)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', '),
      fmt(i.cpuPercent, 2),
      fmt(i.rssMiB),
    ]),
  );
  // Events stream memory: every partition queue has its own stream capped at BullMQ's default
  // maxLenEvents (10 000, approximate trim). Fill one to its cap and measure it.
  const { Queue } = await import('bullmq');
  const streamQueue = new Queue(uniqueName('bprofstream'), { connection: redis, prefix: 'bench-stream' });
  for (let i = 0; i < 12_000; i += 1000) {
    await streamQueue.addBulk(
      Array.from({ length: 1000 }, (_, j) => ({
        name: 'j',
        data: { k: i + j, s: 0, t: 0 },
        opts: { removeOnComplete: true },
      })),
    );
  }
  const streamKey = `bench-stream:${streamQueue.name}:events`;
  const streamLen = await redis.xlen(streamKey);
  const streamBytes = Number(await redis.call('MEMORY', 'USAGE', streamKey, 'SAMPLES', '0'));
  await streamQueue.obliterate({ force: true });
  await streamQueue.close();
  const stream = { entries: streamLen, bytes: streamBytes, bytesPerEntry: streamBytes / streamLen };
  log(`[stream] one full events stream: ${streamLen} entries, ${fmt(streamBytes / 2 ** 20)} MiB`);

  process.stdout.write(`${throughputTable}\n\n${idleTable}\n\n`);
  process.stdout.write(
    `events stream at its cap: ${streamLen} entries, ${fmt(streamBytes / 2 ** 20)} MiB (${fmt(streamBytes / streamLen)} B/entry)\n\n`,
  );
  for (const i of inner) process.stdout.write(`- ${i.label}: ${i.serverCommandsPerJob}\n`);
  await writeResult(arg('out') ?? 'profile', {
    jobs,
    reps,
    loadavg: loadNow(),
    spread: Object.fromEntries(spread),
    results,
    idle,
    inner,
    stream,
    cpuProfDir: cpuProfDir ?? null,
  });
  redis.disconnect();
} finally {
  stopServer();
}

export {};
