/**
 * The chaos run's oracle. It does not import the library: it reads the run's records with SQL (jobs,
 * accepted and refused executions, faults, the copy of the lease history — see records.ts) and checks:
 *
 * - **lost**: every job has at least one accepted execution;
 * - **order**: per key, accepted executions (in the order they were written) never go back to an
 *   earlier seq once a later one was executed (running the same seq again after a crash is fine);
 * - **overlap**: no two accepted executions of one partition by different owners overlap in time;
 * - **epoch**: per partition, accepted executions never carry a smaller epoch than an earlier one;
 * - **routing**: an execution ran in the partition its job was enqueued to; no execution of an
 *   unknown job;
 * - **takeover**: after a SIGKILL, a SIGSTOP or a graceful stop, each partition the victim owned was
 *   owned by another client within ttl + 1 s (history `at` − fault time, both database time);
 * - **resume**: where work was waiting in such a partition, it ran again within ttl + 3 s of the fault
 *   (of Postgres accepting connections again, for a restart).
 *
 * `npx tsx chaos/oracle.ts --schema <schema> --ttl 1000` checks a kept run (`npm run chaos -- --keep`).
 */
import { parseArgs } from 'node:util';

import { type Queryable, recordTables } from './records.js';

export interface OracleOptions {
  /** The lease ttl of the run, in ms. */
  ttlMs: number;
  /** Allowed takeover after a crash or pause: ttl + this. @defaultValue 1000 */
  takeoverSlackMs?: number;
  /** Allowed time until work resumes: ttl + this. @defaultValue 3000 */
  resumeSlackMs?: number;
}

/** Fault kinds after which the victim's partitions move to another client. */
export const MOVING_FAULTS = new Set(['kill', 'pause', 'graceful', 'blackhole-stop']);
/** Fault kinds after which the victim keeps running (it may keep or lose its partitions). */
export const CUT_FAULTS = new Set(['pg-terminate', 'redis-kill']);

export interface FaultMeasurement {
  id: number;
  kind: string;
  victim: string | null;
  /** Database time of the fault, ms since 1970. */
  at: number;
  /** Length of the fault (SIGSTOP → SIGCONT, restart → accepting again), ms; null when instantaneous. */
  durationMs: number | null;
  /** Partitions the victim owned at the fault (all owned partitions for a Postgres restart). */
  partitions: number;
  /** Slowest takeover by another client, ms after the fault; null when not measured. */
  takeoverMaxMs: number | null;
  takeoverBoundMs: number | null;
  /** Partitions with work waiting at the fault. */
  pending: number;
  /** Slowest restart of that work, ms after the fault (after the end of a restart); null when none waited. */
  resumeMaxMs: number | null;
  resumeBoundMs: number | null;
  /** Refused (fenced) executions of the victim from the fault to the resume bound after its end. */
  refused: number;
  /** Longest event-loop stall of any worker from the fault to the resume bound (context, not checked). */
  stallMaxMs: number;
  problems: string[];
}

export interface OracleReport {
  counts: {
    jobs: number;
    keys: number;
    executions: number;
    /** Accepted executions beyond the first of each job (at-least-once re-runs). */
    reexecutions: number;
    refused: number;
    faults: number;
    historyRows: number;
    /** Worker event-loop stalls over 250 ms (context: a starved machine slows every measurement). */
    stalls: number;
  };
  lost: { key: string; seq: number }[];
  order: { key: string; seq: number; afterSeq: number; executionId: number }[];
  overlaps: { partition: number; a: ExecutionRef; b: ExecutionRef }[];
  epochRegressions: { partition: number; epoch: number; afterEpoch: number; executionId: number }[];
  misrouted: { key: string; seq: number; partition: number; expected: number | null }[];
  faults: FaultMeasurement[];
  /** One line per violation (all of them). */
  violations: string[];
}

export interface ExecutionRef {
  id: number;
  owner: string;
  epoch: number;
  start: number;
  end: number;
}

interface ExecutionRow {
  id: number;
  key: string;
  seq: number;
  partition: number;
  epoch: number;
  owner: string;
  start: number;
  end: number;
}

interface JobRow {
  key: string;
  seq: number;
  partition: number;
  enqueued: number;
}

interface HistoryRow {
  partition: number;
  to: string | null;
  at: number;
}

interface FaultRow {
  id: number;
  kind: string;
  victim: string | null;
  at: number;
  ended: number | null;
  partitions: number[];
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;
/** Work counts as waiting at a fault if enqueued before fault + this and not done by fault + GRACE_MS. */
const PENDING_WINDOW_MS = 1000;
/** An execution already in its fenced write when the signal went out may still land this long after. */
const GRACE_MS = 250;

/** Reads the records in `schema` and checks them. Never throws on bad records: it reports them. */
export async function checkRun(db: Queryable, schema: string, options: OracleOptions): Promise<OracleReport> {
  const t = recordTables(schema);
  const ttl = options.ttlMs;
  const takeoverBound = ttl + (options.takeoverSlackMs ?? 1000);
  const resumeBound = ttl + (options.resumeSlackMs ?? 3000);

  const jobs = (
    await db.query<JobRow>(`SELECT key, seq, partition, ${ms('enqueued_at')} AS enqueued FROM ${t.jobs}`)
  ).rows.map((r) => ({ ...r, enqueued: Number(r.enqueued) }));
  const executions = (
    await db.query<ExecutionRow>(
      `SELECT id::float8 AS id, key, seq, partition, epoch::float8 AS epoch, owner, ${ms('started_at')} AS start, ${ms('ended_at')} AS end
       FROM ${t.executions} ORDER BY ended_at, id`,
    )
  ).rows.map((r) => ({
    ...r,
    id: Number(r.id),
    epoch: Number(r.epoch),
    start: Number(r.start),
    end: Number(r.end),
  }));
  const refused = (
    await db.query<{ owner: string; end: number }>(`SELECT owner, ${ms('ended_at')} AS end FROM ${t.refused}`)
  ).rows.map((r) => ({ owner: r.owner, end: Number(r.end) }));
  const history = (
    await db.query<HistoryRow>(
      `SELECT partition, to_client AS to, ${ms('at')} AS at FROM ${t.history} ORDER BY at, id`,
    )
  ).rows.map((r) => ({ ...r, at: Number(r.at) }));
  const stalls = (
    await db.query<{ worker: string; at: number; ms: number }>(
      `SELECT worker, ${ms('at')} AS at, ms FROM ${t.stalls}`,
    )
  ).rows.map((r) => ({
    worker: r.worker,
    at: Number(r.at),
    ms: Number(r.ms),
  }));
  const faults = (
    await db.query<FaultRow>(
      `SELECT id, kind, victim, ${ms('at')} AS at, ${ms('ended_at')} AS ended, partitions FROM ${t.faults} ORDER BY at, id`,
    )
  ).rows.map((r) => ({ ...r, at: Number(r.at), ended: r.ended === null ? null : Number(r.ended) }));

  const violations: string[] = [];
  const jobKey = (key: string, seq: number) => `${key}\u0000${seq}`;

  // Lost jobs, unknown and misrouted executions.
  const jobByKey = new Map(jobs.map((j) => [jobKey(j.key, j.seq), j]));
  const firstEnd = new Map<string, number>();
  const misrouted: OracleReport['misrouted'] = [];
  for (const e of executions) {
    const k = jobKey(e.key, e.seq);
    if (!firstEnd.has(k)) firstEnd.set(k, e.end);
    const job = jobByKey.get(k);
    if (job === undefined || job.partition !== e.partition) {
      misrouted.push({ key: e.key, seq: e.seq, partition: e.partition, expected: job?.partition ?? null });
      violations.push(
        job === undefined
          ? `execution ${e.id} of ${e.key}#${e.seq}: no such job was enqueued`
          : `execution ${e.id} of ${e.key}#${e.seq} ran in partition ${e.partition}, its job was enqueued to ${job.partition}`,
      );
    }
  }
  const lost = jobs
    .filter((j) => !firstEnd.has(jobKey(j.key, j.seq)))
    .map((j) => ({ key: j.key, seq: j.seq }));
  lost.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.seq - b.seq));
  for (const j of lost) violations.push(`lost: ${j.key}#${j.seq} was enqueued and never executed (accepted)`);

  // Per-key order, in the order the accepted writes happened.
  const order: OracleReport['order'] = [];
  const maxSeq = new Map<string, number>();
  for (const e of executions) {
    const max = maxSeq.get(e.key);
    if (max !== undefined && e.seq < max) {
      order.push({ key: e.key, seq: e.seq, afterSeq: max, executionId: e.id });
      violations.push(`order: ${e.key}#${e.seq} executed (execution ${e.id}) after ${e.key}#${max}`);
    }
    if (max === undefined || e.seq > max) maxSeq.set(e.key, e.seq);
  }

  // Per partition: overlapping owners, and epochs that go backwards.
  const byPartition = new Map<number, ExecutionRow[]>();
  for (const e of executions) {
    let list = byPartition.get(e.partition);
    if (list === undefined) byPartition.set(e.partition, (list = []));
    list.push(e);
  }
  const overlaps: OracleReport['overlaps'] = [];
  const epochRegressions: OracleReport['epochRegressions'] = [];
  const ref = (e: ExecutionRow): ExecutionRef => ({
    id: e.id,
    owner: e.owner,
    epoch: e.epoch,
    start: e.start,
    end: e.end,
  });
  for (const [partition, list] of byPartition) {
    let maxEpoch = -Infinity; // list is in write order
    for (const e of list) {
      if (e.epoch < maxEpoch) {
        epochRegressions.push({ partition, epoch: e.epoch, afterEpoch: maxEpoch, executionId: e.id });
        violations.push(
          `epoch: partition ${partition} accepted epoch ${e.epoch} (execution ${e.id}) after epoch ${maxEpoch}`,
        );
      }
      maxEpoch = Math.max(maxEpoch, e.epoch);
    }
    // Sweep by start; for each owner keep its latest-ending execution so far.
    const byStart = [...list].sort((a, b) => a.start - b.start || a.id - b.id);
    const latest = new Map<string, ExecutionRow>();
    for (const e of byStart) {
      for (const [owner, prev] of latest) {
        if (owner !== e.owner && prev.end > e.start) {
          overlaps.push({ partition, a: ref(prev), b: ref(e) });
          violations.push(
            `overlap: partition ${partition}: ${prev.owner} (epoch ${prev.epoch}, execution ${prev.id}) ran until ` +
              `${new Date(prev.end).toISOString()}, ${e.owner} (epoch ${e.epoch}, execution ${e.id}) started ${(prev.end - e.start).toFixed(0)} ms earlier`,
          );
        }
      }
      const prev = latest.get(e.owner);
      if (prev === undefined || e.end > prev.end) latest.set(e.owner, e);
    }
  }

  // Faults: takeover and resume.
  const historyBy = new Map<number, HistoryRow[]>();
  for (const h of history) {
    let list = historyBy.get(h.partition);
    if (list === undefined) historyBy.set(h.partition, (list = []));
    list.push(h);
  }
  const jobsBy = new Map<number, JobRow[]>();
  for (const j of jobs) {
    let list = jobsBy.get(j.partition);
    if (list === undefined) jobsBy.set(j.partition, (list = []));
    list.push(j);
  }
  const startsBy = new Map<number, ExecutionRow[]>();
  for (const [p, list] of byPartition)
    startsBy.set(
      p,
      [...list].sort((a, b) => a.start - b.start),
    );

  const measured: FaultMeasurement[] = faults.map((f) => {
    const m: FaultMeasurement = {
      id: f.id,
      kind: f.kind,
      victim: f.victim,
      at: f.at,
      durationMs: f.ended === null ? null : f.ended - f.at,
      partitions: f.partitions.length,
      takeoverMaxMs: null,
      takeoverBoundMs: null,
      pending: 0,
      resumeMaxMs: null,
      resumeBoundMs: null,
      refused: refused.filter(
        (r) => r.owner === f.victim && r.end >= f.at && r.end <= (f.ended ?? f.at) + resumeBound,
      ).length,
      stallMaxMs: Math.max(
        0,
        ...stalls
          .filter(
            (st) =>
              !(f.kind === 'pause' && st.worker === f.victim) &&
              st.at + st.ms >= f.at &&
              st.at <= (f.ended ?? f.at) + resumeBound,
          )
          .map((st) => st.ms),
      ),
      problems: [],
    };
    const moving = MOVING_FAULTS.has(f.kind);
    const restart = f.kind === 'pg-restart';
    if (!moving && !CUT_FAULTS.has(f.kind) && !restart) return m;
    // A restart is measured from the moment Postgres accepts connections again.
    const from = restart ? (f.ended ?? f.at) : f.at;
    if (moving) m.takeoverBoundMs = takeoverBound;
    m.resumeBoundMs = resumeBound;
    for (const p of f.partitions) {
      if (moving) {
        const next = (historyBy.get(p) ?? []).find((h) => h.at > f.at && h.to !== null && h.to !== f.victim);
        if (next === undefined) {
          m.problems.push(`partition ${p} was never owned by another client after the fault`);
        } else {
          const took = next.at - f.at;
          m.takeoverMaxMs = Math.max(m.takeoverMaxMs ?? 0, took);
          if (took > takeoverBound)
            m.problems.push(
              `partition ${p} owned again after ${took.toFixed(0)} ms (bound ${takeoverBound} ms)`,
            );
        }
      }
      const waiting = (jobsBy.get(p) ?? []).some((j) => {
        if (j.enqueued >= from + PENDING_WINDOW_MS) return false;
        const done = firstEnd.get(jobKey(j.key, j.seq));
        return done === undefined || done > from + GRACE_MS;
      });
      if (!waiting) continue;
      m.pending++;
      const next = (startsBy.get(p) ?? []).find((e) => e.start > from && (!moving || e.owner !== f.victim));
      if (next === undefined) {
        m.problems.push(`partition ${p} had work waiting and never ran again`);
        continue;
      }
      const resumed = next.start - from;
      m.resumeMaxMs = Math.max(m.resumeMaxMs ?? 0, resumed);
      if (resumed > resumeBound)
        m.problems.push(`partition ${p} ran again after ${resumed.toFixed(0)} ms (bound ${resumeBound} ms)`);
    }
    for (const problem of m.problems)
      violations.push(`fault ${f.id} (${f.kind} ${f.victim ?? ''}): ${problem}`);
    return m;
  });

  return {
    counts: {
      jobs: jobs.length,
      keys: new Set(jobs.map((j) => j.key)).size,
      executions: executions.length,
      reexecutions: executions.length - firstEnd.size,
      refused: refused.length,
      faults: faults.length,
      historyRows: history.length,
      stalls: stalls.length,
    },
    lost,
    order,
    overlaps,
    epochRegressions,
    misrouted,
    faults: measured,
    violations,
  };
}

const fmt = (v: number | null) => (v === null ? '-' : v.toFixed(0));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The fault table and the summary, for humans. `start` (ms) makes fault times relative. */
export function formatReport(report: OracleReport, start = report.faults[0]?.at ?? 0): string {
  const faultRows = report.faults.map((f) => [
    String(f.id),
    ((f.at - start) / 1000).toFixed(1),
    f.kind,
    f.victim ?? '-',
    fmt(f.durationMs),
    String(f.partitions),
    f.takeoverBoundMs === null ? '-' : `${fmt(f.takeoverMaxMs)} / ${f.takeoverBoundMs}`,
    String(f.pending),
    f.resumeBoundMs === null ? '-' : `${fmt(f.resumeMaxMs)} / ${f.resumeBoundMs}`,
    String(f.refused),
    f.stallMaxMs === 0 ? '-' : String(f.stallMaxMs),
    f.problems.length === 0 ? 'ok' : `FAIL (${f.problems.length})`,
  ]);
  const c = report.counts;
  const check = (name: string, n: number, what: string) =>
    `  ${n === 0 ? 'ok  ' : 'FAIL'} ${name.padEnd(9)} ${n} ${what}`;
  const faultProblems = report.faults.reduce((n, f) => n + f.problems.length, 0);
  return [
    table(
      [
        '#',
        't (s)',
        'kind',
        'victim',
        'dur ms',
        'parts',
        'takeover max/bound ms',
        'waiting',
        'resume max/bound ms',
        'refused',
        'stall ms',
        'result',
      ],
      faultRows,
    ),
    '',
    `jobs ${c.jobs} over ${c.keys} keys; accepted executions ${c.executions} (${c.reexecutions} re-runs); refused by the fence ${c.refused}; ` +
      `faults ${c.faults}; lease moves ${c.historyRows}; worker event-loop stalls > 250 ms: ${c.stalls}`,
    check('lost', report.lost.length, 'jobs never executed'),
    check('order', report.order.length, 'per-key executions that went back to an earlier seq'),
    check('overlap', report.overlaps.length, 'overlapping executions of one partition by two owners'),
    check(
      'epoch',
      report.epochRegressions.length,
      'accepted executions with an epoch older than an earlier one',
    ),
    check('routing', report.misrouted.length, 'executions of unknown jobs or in the wrong partition'),
    check('faults', faultProblems, 'slow or missing takeovers/resumes'),
    ...report.violations.slice(0, 20).map((v) => `    ${v}`),
    ...(report.violations.length > 20 ? [`    … and ${report.violations.length - 20} more`] : []),
  ].join('\n');
}

/** The one-line machine summary the run prints last. */
export function summaryLine(report: OracleReport, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    chaos: 'summary',
    ...extra,
    ...report.counts,
    lost: report.lost.length,
    orderViolations: report.order.length,
    overlaps: report.overlaps.length,
    epochRegressions: report.epochRegressions.length,
    misrouted: report.misrouted.length,
    faultProblems: report.faults.reduce((n, f) => n + f.problems.length, 0),
    faultKinds: report.faults.reduce<Record<string, number>>(
      (acc, f) => ({ ...acc, [f.kind]: (acc[f.kind] ?? 0) + 1 }),
      {},
    ),
    takeoverMaxMs: Math.max(0, ...report.faults.map((f) => f.takeoverMaxMs ?? 0)),
    resumeMaxMs: Math.max(0, ...report.faults.map((f) => f.resumeMaxMs ?? 0)),
    violations: report.violations.length,
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { schema: { type: 'string' }, ttl: { type: 'string', default: '1000' } },
  });
  if (values.schema === undefined)
    throw new Error('Usage: tsx chaos/oracle.ts --schema <schema> [--ttl 1000]');
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  try {
    const report = await checkRun(pool, values.schema, { ttlMs: Number(values.ttl) });
    console.log(formatReport(report));
    console.log(summaryLine(report));
    process.exitCode = report.violations.length === 0 ? 0 : 1;
  } finally {
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
