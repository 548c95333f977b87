/**
 * `npm run chaos`: a fleet of PartitionedWorker processes on the real Postgres and Redis, a producer
 * of per-key sequenced jobs, faults injected on a seeded schedule, and an oracle (oracle.ts, which
 * does not import the library) that checks the records. Exits non-zero on any violation.
 *
 *   npm run chaos                                  # 4 workers, 64 partitions, 50k jobs, 20 faults
 *   npm run chaos -- --jobs 5000 --faults 6        # the short run CI uses
 *   npm run chaos -- --seed 1234                   # rerun a schedule
 *   npm run chaos -- --restart-postgres            # also restart the local Postgres cluster
 *
 * Every run works in its own Postgres schema and Redis prefix (`chaos_<hex>`), dropped at the end;
 * children are killed on any exit (stopped ones are continued first).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

import { migrate, toDbPort } from 'dbleases';
import { PartitionedQueue } from 'dbleases/bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

import { checkRun, formatReport, summaryLine } from './oracle.js';
import { createRecordTables, recordTables, tapLeaseHistory } from './records.js';
import { FAULT_KINDS, type FaultKind, planFaults, type PlannedFault, rng } from './schedule.js';

const USAGE = `Usage: npm run chaos -- [options]
  --workers <n>          worker processes (default 4)
  --partitions <n>       partitions of the lease and queue (default 64)
  --jobs <n>             jobs to produce (default 50000)
  --keys <n>             partition keys, each with its own sequence (default 1000)
  --faults <n>           faults to inject (default 20)
  --seed <n>             schedule seed (default: random, printed)
  --ttl <ms>             lease ttl (default 1000)
  --heartbeat <ms>       lease heartbeat (default 250)
  --job-ms <ms>          simulated work per job before its write (default 5)
  --gap <min-max>        ms between faults (default 2500-4500)
  --kinds <a,b,…>        only these fault kinds (kill, pause, pg-terminate, redis-kill, graceful,
                         close-claim, blackhole-stop, pg-restart)
  --drain-timeout <ms>   after the last fault, how long to wait for the remaining jobs (default 60000)
  --restart-postgres     also restart the Postgres cluster (pg_ctlcluster) as a fault
  --keep                 keep the schema and Redis keys (check again with chaos/oracle.ts)
  --verbose              print the workers' error lines`;

const { values: argv } = parseArgs({
  options: {
    workers: { type: 'string', default: '4' },
    partitions: { type: 'string', default: '64' },
    jobs: { type: 'string', default: '50000' },
    keys: { type: 'string', default: '1000' },
    faults: { type: 'string', default: '20' },
    seed: { type: 'string' },
    ttl: { type: 'string', default: '1000' },
    heartbeat: { type: 'string', default: '250' },
    'job-ms': { type: 'string', default: '5' },
    gap: { type: 'string', default: '2500-4500' },
    kinds: { type: 'string' },
    'drain-timeout': { type: 'string', default: '60000' },
    'restart-postgres': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (argv.help) {
  console.log(USAGE);
  process.exit(0);
}

function int(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    console.error(`Expected --${name} to be an integer ≥ ${min}, got ${JSON.stringify(value)}\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const cfg = {
  workers: int('workers', argv.workers, 2),
  partitions: int('partitions', argv.partitions, 1),
  jobs: int('jobs', argv.jobs, 1),
  keys: int('keys', argv.keys, 1),
  faults: int('faults', argv.faults, 0),
  seed: argv.seed === undefined ? randomBytes(4).readUInt32BE() : int('seed', argv.seed, 0),
  ttl: int('ttl', argv.ttl, 1000),
  heartbeat: int('heartbeat', argv.heartbeat, 50),
  jobMs: int('job-ms', argv['job-ms'], 0),
  drainTimeout: int('drain-timeout', argv['drain-timeout'], 1000),
  restartPostgres: argv['restart-postgres'],
  keep: argv.keep,
  verbose: argv.verbose,
};
const gap = /^(\d+)-(\d+)$/.exec(argv.gap);
if (!gap || Number(gap[1]) > Number(gap[2])) {
  console.error(`Expected --gap to be <min>-<max> in ms, got ${JSON.stringify(argv.gap)}`);
  process.exit(2);
}

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const LEASE = 'chaos';
const TABLE_PREFIX = 'db_leases';
const ns = `chaos_${randomBytes(5).toString('hex')}`;
const WORKER_FILE = fileURLToPath(new URL('./worker.ts', import.meta.url));
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s`;
const log = (message: string) => console.log(`[${elapsed()}] ${message}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const kinds = argv.kinds?.split(',').map((k) => k.trim()) as FaultKind[] | undefined;
const unknownKind = kinds?.find((k) => !(FAULT_KINDS as readonly string[]).includes(k));
if (
  unknownKind !== undefined ||
  (kinds?.length === 1 && kinds[0] === 'pg-restart' && !argv['restart-postgres'])
) {
  console.error(
    `Expected --kinds to list fault kinds among ${FAULT_KINDS.join(', ')} (pg-restart needs --restart-postgres), got ${JSON.stringify(argv.kinds)}`,
  );
  process.exit(2);
}
const plan = planFaults({
  kinds,
  seed: cfg.seed,
  faults: cfg.faults,
  ttlMs: cfg.ttl,
  restartPostgres: cfg.restartPostgres,
  minGapMs: Number(gap[1]),
  maxGapMs: Number(gap[2]),
});

// ---------------------------------------------------------------------------------------------
// The fleet

interface WorkerProc {
  n: number;
  id: string;
  proc: ChildProcess;
  ready: boolean;
  paused: boolean;
  leaving: boolean;
  partitions: number[];
  exited: Promise<void>;
  /** Told when the worker printed `reopened` (a `close-claim` ended). */
  reopened?: () => void;
  /** How long its last graceful stop took, from its `closed` line. */
  closeMs?: number;
}

const fleet = new Map<string, WorkerProc>();
let workerCount = 0;
let workerErrors = 0;
/** Graceful stops (blackhole-stop) whose close did not resolve on its own. */
let closesHung = 0;

function alive(w: WorkerProc): boolean {
  return w.proc.exitCode === null && w.proc.signalCode === null;
}

function startWorker(): WorkerProc {
  const n = ++workerCount;
  const id = `${ns}-w${n}`;
  const proc = spawn(process.execPath, ['--import', 'tsx', WORKER_FILE], {
    env: {
      ...process.env,
      DATABASE_URL,
      REDIS_URL,
      CHAOS_ID: id,
      CHAOS_SCHEMA: ns,
      CHAOS_PREFIX: ns,
      CHAOS_PARTITIONS: String(cfg.partitions),
      CHAOS_TTL: String(cfg.ttl),
      CHAOS_HEARTBEAT: String(cfg.heartbeat),
      CHAOS_JOB_MS: String(cfg.jobMs),
      // Every other worker runs the processor the README asks for (it stops when its signal aborts).
      CHAOS_HONOUR_SIGNAL: n % 2 === 1 ? '1' : '0',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const w: WorkerProc = {
    n,
    id,
    proc,
    ready: false,
    paused: false,
    leaving: false,
    partitions: [],
    exited: new Promise((resolve) => proc.once('exit', () => resolve())),
  };
  proc.stdin!.on('error', () => {}); // EPIPE once the child is gone
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let m: { type?: string; values?: number[]; where?: string; message?: string; partition?: number };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      if (cfg.verbose) log(`w${n}: ${line}`);
      return;
    }
    if (m.type === 'ready') w.ready = true;
    else if (m.type === 'reopened') w.reopened?.();
    else if (m.type === 'closed') w.closeMs = Number((m as { closeMs?: number }).closeMs);
    else if (m.type === 'stall') {
      const stallMs = Number((m as { ms?: number }).ms);
      void query(
        `INSERT INTO ${t.stalls} (worker, at, ms) VALUES ($1, clock_timestamp() - make_interval(secs => $2::float8 / 1000), $2)`,
        [id, stallMs],
        5_000,
      ).catch(() => undefined);
    } else if (m.type === 'partitions') w.partitions = m.values ?? [];
    else if (m.type === 'error') {
      workerErrors++;
      if (cfg.verbose)
        log(`w${n} error (${m.where}${m.partition === undefined ? '' : ` p${m.partition}`}): ${m.message}`);
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  proc.once('exit', (code, signal) => {
    fleet.delete(id);
    if (!w.leaving && code !== 0 && signal !== 'SIGKILL') {
      log(
        `w${n} exited unexpectedly (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
      );
    }
  });
  fleet.set(id, w);
  return w;
}

/** Synchronous, for 'exit': continue stopped children, then kill them all. */
function killFleet(): void {
  for (const w of fleet.values()) {
    try {
      w.proc.kill('SIGCONT');
      w.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function stopWorker(w: WorkerProc, timeoutMs = 20_000): Promise<boolean> {
  w.leaving = true;
  if (w.paused) {
    w.proc.kill('SIGCONT');
    w.paused = false;
  }
  w.proc.kill('SIGTERM');
  const timer = setTimeout(() => w.proc.kill('SIGKILL'), timeoutMs);
  await w.exited;
  clearTimeout(timer);
  return w.proc.exitCode === 0;
}

async function waitReady(ws: WorkerProc[], timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (ws.some((w) => !w.ready)) {
    if (ws.some((w) => !alive(w))) throw new Error(`a worker exited while starting`);
    if (performance.now() > end) throw new Error(`workers not ready within ${timeoutMs} ms`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// Database and Redis

const pool = new pg.Pool({
  connectionString: DATABASE_URL,
  max: 4,
  application_name: `${ns}-run`,
  connectionTimeoutMillis: 3000,
});
pool.on('error', () => {}); // a terminated idle connection (restart) must not crash the run
const t = recordTables(ns);

/** A query that outlives a Postgres restart: retried for up to `forMs`. */
async function query<R = Record<string, unknown>>(
  text: string,
  values?: unknown[],
  forMs = 60_000,
): Promise<R[]> {
  const end = performance.now() + forMs;
  for (;;) {
    try {
      return (await pool.query(text, values)).rows as R[];
    } catch (error) {
      const code = (error as { code?: string }).code;
      const transient = code === undefined || code.startsWith('08') || code === '57P01' || code === '57P03';
      if (!transient || performance.now() > end) throw error;
      await sleep(200);
    }
  }
}

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null, connectionName: `${ns}-run` });
redis.on('error', () => {});

async function deleteRedisPrefix(): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
    if (keys.length > 0) n += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return n;
}

async function cleanNamespace(): Promise<void> {
  await query(`DROP SCHEMA IF EXISTS "${ns}" CASCADE`, [], 10_000);
  await deleteRedisPrefix();
}

// ---------------------------------------------------------------------------------------------
// Faults

interface Injected {
  id: number;
  kind: FaultKind;
  victim: string | null;
  note: string;
}
const injected: Injected[] = [];
const pendingFaultWork = new Set<Promise<unknown>>();

async function recordFault(
  f: PlannedFault,
  victim: WorkerProc | undefined,
  detail: Record<string, unknown>,
): Promise<number[]> {
  const parts = `${ns}.${TABLE_PREFIX}_partitions`;
  const rows = await query<{ partitions: number[] }>(
    `INSERT INTO ${t.faults} (id, kind, victim, victim_pid, at, partitions, detail)
     SELECT $1, $2, $3, $4, clock_timestamp(),
            coalesce((SELECT array_agg(partition ORDER BY partition) FROM ${parts}
                      WHERE lease_name = $6 AND (CASE WHEN $3::text IS NULL THEN true ELSE owner = $3 END)), '{}'),
            $5::jsonb
     RETURNING partitions`,
    [f.id, f.kind, victim?.id ?? null, victim?.proc.pid ?? null, JSON.stringify(detail), LEASE],
  );
  return rows[0]!.partitions;
}

async function endFault(id: number): Promise<void> {
  await query(`UPDATE ${t.faults} SET ended_at = clock_timestamp() WHERE id = $1`, [id]);
}

/**
 * A replacement (after a kill) or a newcomer (after a graceful stop) starts this long after the
 * fault: starting a worker costs a lot of CPU (tsx), which must not compete with the takeover the
 * oracle measures.
 */
const JOIN_DELAY_MS = cfg.ttl + 1500;

function startLater(): void {
  const later = (async () => {
    await sleep(JOIN_DELAY_MS);
    if (cleaningUp) return;
    const w = startWorker();
    log(`w${w.n} starts (pid ${w.proc.pid})`);
  })();
  pendingFaultWork.add(later);
  void later.finally(() => pendingFaultWork.delete(later));
}

const MOVING: ReadonlySet<FaultKind> = new Set(['kill', 'pause', 'graceful', 'blackhole-stop']);

/**
 * Workers a fault may hit: ready and running. A moving fault also needs another running worker to
 * take over, and waits (up to 20 s) until no worker is starting: a starting worker eats CPU, and
 * the takeover it measures should be this fault's, not that of a pile-up of process starts.
 */
async function chooseVictim(f: PlannedFault): Promise<WorkerProc | undefined> {
  const end = performance.now() + 20_000;
  const since = performance.now();
  for (;;) {
    const all = [...fleet.values()].filter((w) => alive(w) && !w.leaving);
    const running = all.filter((w) => w.ready && !w.paused).sort((a, b) => a.n - b.n);
    const starting = all.some((w) => !w.ready);
    const owning = running.filter((w) => w.partitions.length > 0);
    const candidates = owning.length > 0 ? owning : running;
    if (candidates.length > 0 && (!MOVING.has(f.kind) || (running.length >= 2 && !starting))) {
      const waited = performance.now() - since;
      if (waited > 500) log(`#${f.id} ${f.kind} waited ${waited.toFixed(0)} ms for the fleet to settle`);
      return candidates[Math.floor(f.pick * candidates.length)];
    }
    if (performance.now() > end) return undefined;
    await sleep(100);
  }
}

async function pgCluster(): Promise<[string, string]> {
  const [row] = await query<{ name: string; version: string }>(
    `SELECT current_setting('cluster_name') AS name, (current_setting('server_version_num')::int / 10000)::text AS version`,
  );
  const m = /^(\d+)\/(.+)$/.exec(row?.name ?? '');
  return m ? [m[1]!, m[2]!] : [row!.version, 'main'];
}

const execFileAsync = promisify(execFile);

async function ensurePostgresRunning(): Promise<void> {
  try {
    await query('SELECT 1', [], 5_000);
  } catch {
    const [version, name] = clusterOfRun ?? ['15', 'main'];
    log(`Postgres is down: starting cluster ${version}/${name}`);
    await execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'start']).catch(
      (e: Error) => log(`start failed: ${e.message}`),
    );
    await query('SELECT 1', [], 30_000);
  }
}
let clusterOfRun: [string, string] | undefined;

async function inject(f: PlannedFault): Promise<void> {
  if (f.kind === 'pg-restart') {
    clusterOfRun ??= await pgCluster();
    const [version, name] = clusterOfRun;
    await recordFault(f, undefined, { cluster: `${version}/${name}` });
    const started = performance.now();
    await execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'restart'], {
      timeout: 60_000,
    });
    await query('SELECT 1', [], 60_000);
    await endFault(f.id);
    injected.push({
      id: f.id,
      kind: f.kind,
      victim: null,
      note: `Postgres cluster ${version}/${name} restarted, accepting again after ${(performance.now() - started).toFixed(0)} ms`,
    });
    log(`#${f.id} ${injected.at(-1)!.note}`);
    return;
  }
  const victim = await chooseVictim(f);
  if (victim === undefined) {
    log(`#${f.id} ${f.kind}: no eligible worker, skipped`);
    return;
  }
  const short = `w${victim.n}`;
  switch (f.kind) {
    case 'kill': {
      const parts = await recordFault(f, victim, {});
      victim.leaving = true;
      victim.proc.kill('SIGKILL');
      await victim.exited;
      startLater();
      injected.push({
        id: f.id,
        kind: f.kind,
        victim: victim.id,
        note: `${short} (${parts.length} partitions) SIGKILLed; a replacement starts in ${JOIN_DELAY_MS} ms`,
      });
      break;
    }
    case 'pause': {
      const parts = await recordFault(f, victim, { durationMs: f.durationMs });
      victim.paused = true;
      victim.proc.kill('SIGSTOP');
      const resume = (async () => {
        await sleep(f.durationMs!);
        if (alive(victim)) victim.proc.kill('SIGCONT');
        victim.paused = false;
        await endFault(f.id);
      })();
      pendingFaultWork.add(resume);
      void resume.finally(() => pendingFaultWork.delete(resume));
      injected.push({
        id: f.id,
        kind: f.kind,
        victim: victim.id,
        note: `${short} (${parts.length} partitions) SIGSTOPped for ${f.durationMs} ms`,
      });
      break;
    }
    case 'pg-terminate': {
      const parts = await recordFault(f, victim, {});
      const [row] = await query<{ n: number }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1`,
        [victim.id],
      );
      await query(
        `UPDATE ${t.faults} SET detail = detail || jsonb_build_object('connections', $2::int) WHERE id = $1`,
        [f.id, row?.n ?? 0],
      );
      injected.push({
        id: f.id,
        kind: f.kind,
        victim: victim.id,
        note: `${short} (${parts.length} partitions): ${row?.n ?? 0} Postgres connections terminated`,
      });
      break;
    }
    case 'redis-kill': {
      const parts = await recordFault(f, victim, {});
      const list = (await redis.client('LIST')) as string;
      const ids = list
        .split('\n')
        .map((line) =>
          Object.fromEntries(
            line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
          ),
        )
        .filter((c) => c.name === `${victim.id}-shared` || (c.name ?? '').endsWith(`:w:${victim.id}`))
        .map((c) => c.id!);
      for (const id of ids) await redis.client('KILL', 'ID', id).catch(() => 0);
      await query(
        `UPDATE ${t.faults} SET detail = detail || jsonb_build_object('connections', $2::int) WHERE id = $1`,
        [f.id, ids.length],
      );
      injected.push({
        id: f.id,
        kind: f.kind,
        victim: victim.id,
        note: `${short} (${parts.length} partitions): ${ids.length} Redis connections killed`,
      });
      break;
    }
    case 'close-claim': {
      const parts = await recordFault(f, victim, {});
      const reopened = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 20_000);
        victim.reopened = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      victim.proc.kill('SIGUSR2');
      const ok = await reopened;
      victim.reopened = undefined;
      await endFault(f.id);
      injected.push({
        id: f.id,
        kind: f.kind,
        victim: victim.id,
        note: `${short} (${parts.length} partitions) closed and reopened its worker twice, the second close during its claims${ok ? '' : ' (NOT reopened within 20 s)'}`,
      });
      break;
    }
    case 'blackhole-stop': {
      const parts = await recordFault(f, victim, {});
      victim.leaving = true;
      const started = performance.now();
      victim.proc.kill('SIGUSR1');
      const timer = setTimeout(() => victim.proc.kill('SIGKILL'), 20_000);
      await victim.exited;
      clearTimeout(timer);
      await endFault(f.id);
      startLater();
      const closeMs = victim.closeMs;
      injected.push({
        id: f.id,
        kind: f.kind,
        victim: victim.id,
        note: `${short} (${parts.length} partitions): its Postgres stopped answering, then it stopped gracefully: ${
          closeMs === undefined || Number.isNaN(closeMs)
            ? `its close did NOT resolve (exited after ${(performance.now() - started).toFixed(0)} ms)`
            : `close resolved after ${closeMs} ms`
        }; a new worker joins in ${JOIN_DELAY_MS} ms`,
      });
      if (closeMs === undefined || Number.isNaN(closeMs)) closesHung++;
      break;
    }
    case 'graceful': {
      const parts = await recordFault(f, victim, {});
      const clean = await stopWorker(victim);
      await endFault(f.id);
      startLater();
      injected.push({
        id: f.id,
        kind: f.kind,
        victim: victim.id,
        note: `${short} (${parts.length} partitions) stopped gracefully${clean ? '' : ' (NOT cleanly)'}; a new worker joins in ${JOIN_DELAY_MS} ms`,
      });
      break;
    }
  }
  log(`#${f.id} ${injected.at(-1)!.note}`);
}

// ---------------------------------------------------------------------------------------------
// Producer

interface Produced {
  count: number;
  done: boolean;
}

/**
 * Produces `--jobs` jobs in batches every 100 ms, paced so that production ends shortly after the
 * last fault (`faultsEnd()` estimates when, from the schedule and its current lag).
 */
async function produce(queue: PartitionedQueue, faultsEnd: () => number, state: Produced): Promise<void> {
  const random = rng(cfg.seed ^ 0x9e3779b9);
  const seqs = new Array<number>(cfg.keys).fill(0);
  const tickMs = 100;
  while (state.count < cfg.jobs) {
    const tickStart = performance.now();
    const ticksLeft = Math.max(1, (faultsEnd() + 1500 - tickStart) / tickMs);
    const n = Math.min(Math.ceil((cfg.jobs - state.count) / ticksLeft), cfg.jobs - state.count);
    const batch = Array.from({ length: n }, () => {
      const k = Math.floor(random() * cfg.keys);
      const key = `k${k}`;
      return { key, seq: ++seqs[k]! };
    });
    await queue.addBulk(
      batch.map((j) => ({
        name: 'chaos',
        data: j,
        opts: {
          partitionKey: j.key,
          attempts: 10,
          backoff: { type: 'fixed', delay: 100 },
          removeOnComplete: true,
          removeOnFail: 1000,
        },
      })),
    );
    await query(
      `INSERT INTO ${t.jobs} (key, seq, partition) SELECT * FROM unnest($1::text[], $2::int[], $3::int[])`,
      [batch.map((j) => j.key), batch.map((j) => j.seq), batch.map((j) => queue.partitionFor(j.key))],
    );
    state.count += n;
    const due = tickStart + tickMs;
    if (due > performance.now()) await sleep(due - performance.now());
  }
  state.done = true;
}

// ---------------------------------------------------------------------------------------------
// The run

let cleaningUp = false;
process.on('exit', killFleet);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (cleaningUp) return;
    cleaningUp = true;
    log(`${signal}: stopping the fleet and removing ${ns}`);
    killFleet();
    const done = () => process.exit(130);
    setTimeout(done, 10_000).unref();
    (cfg.restartPostgres ? ensurePostgresRunning() : Promise.resolve())
      .then(() => (cfg.keep ? undefined : cleanNamespace()))
      .catch(() => undefined)
      .finally(done);
  });
}

async function main(): Promise<number> {
  console.log(
    `chaos: seed ${cfg.seed}, ${cfg.workers} workers, ${cfg.partitions} partitions, ${cfg.jobs} jobs over ${cfg.keys} keys, ` +
      `${plan.length} faults, ttl ${cfg.ttl} ms / heartbeat ${cfg.heartbeat} ms, namespace ${ns}`,
  );
  console.log(
    `schedule (rerun with --seed ${cfg.seed}${cfg.restartPostgres ? ' --restart-postgres' : ''} --faults ${cfg.faults} --gap ${argv.gap}${argv.kinds ? ` --kinds ${argv.kinds}` : ''}):`,
  );
  for (const f of plan) {
    console.log(
      `  #${String(f.id).padEnd(3)} +${(f.atMs / 1000).toFixed(1).padStart(5)}s  ${f.kind.padEnd(12)} pick ${f.pick.toFixed(3)}${f.durationMs ? `  for ${f.durationMs} ms` : ''}`,
    );
  }

  await cleanNamespace();
  await migrate(toDbPort(pool), { schema: ns, tablePrefix: TABLE_PREFIX, timeoutMs: 20_000 });
  await createRecordTables(pool, ns);
  await tapLeaseHistory(pool, ns, TABLE_PREFIX);
  if (cfg.restartPostgres) clusterOfRun = await pgCluster();

  const first = Array.from({ length: cfg.workers }, () => startWorker());
  await waitReady(first, 90_000);
  log(`${first.length} workers ready (pids ${first.map((w) => w.proc.pid).join(' ')})`);

  const producerRedis = new Redis(REDIS_URL, {
    maxRetriesPerRequest: null,
    connectionName: `${ns}-producer`,
  });
  producerRedis.on('error', () => {});
  const queue = new PartitionedQueue('chaos', {
    partitions: cfg.partitions,
    connection: producerRedis,
    prefix: ns,
  });
  // The gaps of the schedule run from the end of one injection (a graceful stop takes a while) to
  // the next; production is spread over the whole fault phase so that every fault meets work.
  const lastFaultMs = plan.at(-1)?.atMs ?? 0;
  let anchor = { at: performance.now() + 2000, offset: 0 };
  const produced: Produced = { count: 0, done: false };
  const producing = produce(queue, () => anchor.at + lastFaultMs - anchor.offset, produced);
  producing.catch(() => undefined);

  let faultsDone = false;
  const faulting = (async () => {
    for (const f of plan) {
      const wait = anchor.at + (f.atMs - anchor.offset) - performance.now();
      if (wait > 0) await sleep(wait);
      try {
        await inject(f);
      } catch (error) {
        log(`#${f.id} ${f.kind} could not be injected: ${(error as Error).message}`);
      }
      anchor = { at: performance.now(), offset: f.atMs };
    }
    await Promise.all([...pendingFaultWork]);
    faultsDone = true;
  })();

  const remaining = async () =>
    (
      await query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${t.jobs} j WHERE NOT EXISTS (SELECT 1 FROM ${t.executions} e WHERE e.key = j.key AND e.seq = j.seq)`,
      )
    )[0]!.n;
  let lastProgress = 0;
  let drainEnd: number | undefined;
  for (;;) {
    await sleep(500);
    const left = await remaining();
    if (performance.now() - lastProgress > 5000) {
      lastProgress = performance.now();
      const owners = [...fleet.values()]
        .sort((a, b) => a.n - b.n)
        .map((w) => `w${w.n}${w.paused ? '(stopped)' : w.ready ? '' : '(starting)'}:${w.partitions.length}`);
      log(`produced ${produced.count}/${cfg.jobs}, waiting for ${left}; fleet ${owners.join(' ')}`);
    }
    if (produced.done && faultsDone) {
      if (left === 0) break;
      drainEnd ??= performance.now() + cfg.drainTimeout;
      if (performance.now() > drainEnd) {
        log(`${left} jobs still not executed ${cfg.drainTimeout} ms after the last fault: stopping`);
        break;
      }
    }
  }
  await producing;
  await faulting;

  // Let workers that are still starting finish, so every stop below is a graceful one.
  await waitReady([...fleet.values()], 60_000).catch((e: Error) => log(e.message));
  log('stopping the fleet');
  const unclean = (await Promise.all([...fleet.values()].map((w) => stopWorker(w)))).filter(
    (ok) => !ok,
  ).length;
  await queue.close();
  await producerRedis.quit();
  if (cfg.restartPostgres) await ensurePostgresRunning();

  const report = await checkRun(pool, ns, { ttlMs: cfg.ttl });
  const faultStart = report.faults[0]?.at;
  console.log('');
  console.log(formatReport(report, faultStart));
  console.log(
    `workers started ${workerCount}, worker error lines ${workerErrors}, unclean stops ${unclean}, closes that hung ${closesHung}`,
  );
  console.log(
    summaryLine(report, {
      seed: cfg.seed,
      workers: cfg.workers,
      partitions: cfg.partitions,
      faultsPlanned: plan.length,
      faultsInjected: injected.length,
      workersStarted: workerCount,
      seconds: Math.round((performance.now() - t0) / 1000),
    }),
  );
  const ok = report.violations.length === 0 && injected.length === plan.length && closesHung === 0;
  if (injected.length < plan.length)
    console.log(`only ${injected.length} of ${plan.length} faults were injected`);
  return ok ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`chaos run failed: ${(error as Error).stack ?? String(error)}`);
  code = 1;
} finally {
  cleaningUp = true;
  killFleet();
  if (cfg.restartPostgres) await ensurePostgresRunning().catch(() => undefined);
  if (cfg.keep)
    console.log(
      `kept schema and Redis prefix ${ns}: npx tsx chaos/oracle.ts --schema ${ns} --ttl ${cfg.ttl}`,
    );
  else await cleanNamespace().catch((e: Error) => console.error(`cleanup of ${ns} failed: ${e.message}`));
  await redis.quit().catch(() => undefined);
  await pool.end().catch(() => undefined);
}
process.exit(code);
