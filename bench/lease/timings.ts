/**
 * Scenario 3: lease timings with real processes. 4 lease clients (child processes), 128 partitions; each
 * repetition SIGKILLs one (failover), starts one (join), closes one (handoff), starts one (join).
 * Times come from the workers' own samples of `values()`; moves from the lease's history table.
 */
import pg from 'pg';

import {
  type Acquisition,
  balanced,
  clock,
  DemoWorker,
  type Interval,
  overlaps,
} from '../../src/cli/demo/fleet.js';
import { migrate, toDbPort } from '../../src/index.js';
import { until } from './common.js';

export interface TimingRun {
  ttl: number;
  heartbeat: number;
  clients: number;
  partitions: number;
  failoverMs: number[];
  handoffMs: number[];
  joinMs: number[];
  /** Moves observed per event, next to the minimum that event needs. */
  moves: { kind: 'crash' | 'leave' | 'join'; moves: number; min: number }[];
  overlaps: number;
}

export async function leaseTimings(
  url: string,
  o: {
    ttl: number;
    heartbeat: number;
    reps: number;
    clients?: number;
    partitions?: number;
    log: (line: string) => void;
  },
): Promise<TimingRun> {
  const clients = o.clients ?? 4;
  const partitions = o.partitions ?? 128;
  const schema = `bench_timings_${o.ttl}`;
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {}); // an idle connection terminated by the server must not end the run
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
  const settings = { databaseUrl: url, schema, partitions, ttl: o.ttl, heartbeat: o.heartbeat };
  const intervals: Interval[] = [];
  const acquisitions: Acquisition[] = [];
  const workers: DemoWorker[] = [];
  let n = 0;
  const spawn = () => {
    const w = new DemoWorker(`c${++n}`, settings, intervals, acquisitions, () => {});
    workers.push(w);
    return w;
  };
  const live = () => workers.filter((w) => w.state === 'live');
  const isBalanced = () => balanced(workers, partitions);
  const run: TimingRun = {
    ttl: o.ttl,
    heartbeat: o.heartbeat,
    clients,
    partitions,
    failoverMs: [],
    handoffMs: [],
    joinMs: [],
    moves: [],
    overlaps: 0,
  };

  // Moves of an event: history rows written from its start until the next event starts.
  let pending: { kind: 'crash' | 'leave' | 'join'; from: number; min: number } | undefined;
  const closeMoves = async () => {
    if (!pending) return;
    const res = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".db_leases_history WHERE to_client IS NOT NULL AND at >= to_timestamp($1::float8 / 1000)`,
      [pending.from],
    );
    run.moves.push({ kind: pending.kind, moves: res.rows[0]!.n, min: pending.min });
    pending = undefined;
  };
  const must = async (ok: Promise<boolean>, what: string) => {
    if (!(await ok))
      throw new Error(
        `${what} (ttl ${o.ttl}): ${workers.map((w) => `${w.id} ${w.state} ${w.values.length} ${w.fatal ?? ''}${w.stderr.slice(-300)}`).join('; ')}`,
      );
  };

  /** Kills or closes the oldest live worker; resolves to ms until all its partitions were owned again. */
  const orphan = async (kind: 'crash' | 'leave') => {
    await closeMoves();
    const victim = live()[0]!;
    const orphans = victim.values.slice();
    const from = Date.now();
    const t0 = clock();
    if (kind === 'crash') victim.kill();
    else victim.close();
    pending = { kind, from, min: orphans.length };
    let takenAt = 0;
    const taken = () => {
      let last = t0;
      for (const p of orphans) {
        const a = acquisitions.find((x) => x.t >= t0 && x.partition === p && x.worker !== victim.id);
        if (!a) return false;
        last = Math.max(last, a.t);
      }
      takenAt = last;
      return true;
    };
    await must(
      until(() => taken() && isBalanced(), o.ttl + 20_000),
      `${kind}: partitions of ${victim.id} not owned again`,
    );
    await victim.exited;
    return takenAt - t0;
  };

  const join = async () => {
    await closeMoves();
    const from = Date.now();
    const w = spawn();
    await must(
      until(() => w.readyAt !== undefined, 60_000),
      `${w.id} did not start`,
    );
    await must(until(isBalanced, 30_000), `no balance after ${w.id} joined`);
    const ms = clock() - w.readyAt!;
    pending = { kind: 'join', from, min: w.values.length };
    return ms;
  };

  try {
    for (let i = 0; i < clients; i++) spawn();
    await must(
      until(() => live().length === clients && isBalanced(), 90_000),
      'the first split never balanced',
    );
    for (let rep = 0; rep < o.reps; rep++) {
      run.failoverMs.push(await orphan('crash'));
      run.joinMs.push(await join());
      run.handoffMs.push(await orphan('leave'));
      run.joinMs.push(await join());
      o.log(
        `  ttl ${o.ttl}/hb ${o.heartbeat} rep ${rep + 1}/${o.reps}: failover ${Math.round(run.failoverMs.at(-1)!)} ms, ` +
          `handoff ${Math.round(run.handoffMs.at(-1)!)} ms, joins ${run.joinMs.slice(-2).map(Math.round).join('/')} ms`,
      );
    }
    await closeMoves();
  } finally {
    for (const w of workers) w.close();
    await Promise.race([
      Promise.all(workers.map((w) => w.exited)),
      new Promise((r) => setTimeout(r, 5_000).unref()),
    ]);
    for (const w of workers) if (w.running) w.kill();
    await Promise.all(workers.map((w) => w.exited));
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await pool.end();
  }
  run.overlaps = overlaps(intervals).length;
  return run;
}
