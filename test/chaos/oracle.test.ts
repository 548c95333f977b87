/**
 * The chaos oracle on hand-made records: a clean history passes, and each kind of bad record (a lost
 * job, an out-of-order pair, an overlapping pair, an epoch going back, a slow or missing takeover, a
 * slow resume) is reported. A checker that cannot fail is a defect.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkRun, formatReport, type OracleReport, summaryLine } from '../../chaos/oracle.js';
import { createRecordTables, recordTables } from '../../chaos/records.js';
import { DATABASE_URL, uniqueName } from '../helpers/env.js';

const TTL = 1000;
const BASE = Date.UTC(2026, 0, 1);
let pool: pg.Pool;
const schemas: string[] = [];

beforeAll(() => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => {});
});
afterAll(async () => {
  for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await pool.end();
});

interface Exec {
  key: string;
  seq: number;
  partition: number;
  epoch: number;
  owner: string;
  start: number;
  end: number;
}
interface Records {
  jobs: { key: string; seq: number; partition: number; enqueued: number }[];
  executions: Exec[];
  refused?: Exec[];
  faults?: {
    id: number;
    kind: string;
    victim: string | null;
    at: number;
    partitions: number[];
    ended?: number;
  }[];
  history?: { partition: number; from: string | null; to: string | null; epoch: number; at: number }[];
}

const ts = (ms: number) => new Date(BASE + ms).toISOString();

/** Writes `records` (times in ms after BASE) into a fresh schema and runs the oracle on it. */
async function check(records: Records): Promise<OracleReport> {
  const schema = uniqueName('chaos-oracle');
  schemas.push(schema);
  await createRecordTables(pool, schema);
  const t = recordTables(schema);
  for (const j of records.jobs) {
    await pool.query(`INSERT INTO ${t.jobs} (key, seq, partition, enqueued_at) VALUES ($1, $2, $3, $4)`, [
      j.key,
      j.seq,
      j.partition,
      ts(j.enqueued),
    ]);
  }
  const cols = 'key, seq, partition, epoch, owner, pid, started_at, ended_at';
  for (const e of records.executions) {
    await pool.query(`INSERT INTO ${t.executions} (${cols}) VALUES ($1, $2, $3, $4, $5, 1, $6, $7)`, [
      e.key,
      e.seq,
      e.partition,
      e.epoch,
      e.owner,
      ts(e.start),
      ts(e.end),
    ]);
  }
  for (const e of records.refused ?? []) {
    await pool.query(`INSERT INTO ${t.refused} (${cols}) VALUES ($1, $2, $3, $4, $5, 1, $6, $7)`, [
      e.key,
      e.seq,
      e.partition,
      e.epoch,
      e.owner,
      ts(e.start),
      ts(e.end),
    ]);
  }
  for (const f of records.faults ?? []) {
    await pool.query(
      `INSERT INTO ${t.faults} (id, kind, victim, at, partitions, ended_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [f.id, f.kind, f.victim, ts(f.at), f.partitions, f.ended === undefined ? null : ts(f.ended)],
    );
  }
  let id = 0;
  for (const h of records.history ?? []) {
    await pool.query(
      `INSERT INTO ${t.history} (id, lease_name, partition, from_client, to_client, epoch, reason, at) VALUES ($1, 'chaos', $2, $3, $4, $5, 'crash', $6)`,
      [++id, h.partition, h.from, h.to, h.epoch, ts(h.at)],
    );
  }
  return checkRun(pool, schema, { ttlMs: TTL });
}

/**
 * A clean run: A executes k1#1, k1#2 in partition 0 under epoch 1 and is SIGKILLed at 10 000 ms with
 * k1#3 waiting; B owns partition 0 1 100 ms later (epoch 2), re-runs k1#2 (fine: same seq) and k1#3.
 * A's late write was refused by the fence.
 */
function clean(): Records {
  return {
    jobs: [
      { key: 'k1', seq: 1, partition: 0, enqueued: 0 },
      { key: 'k1', seq: 2, partition: 0, enqueued: 1 },
      { key: 'k1', seq: 3, partition: 0, enqueued: 9_000 },
      { key: 'k2', seq: 1, partition: 1, enqueued: 2 },
    ],
    executions: [
      { key: 'k1', seq: 1, partition: 0, epoch: 1, owner: 'A', start: 100, end: 110 },
      { key: 'k1', seq: 2, partition: 0, epoch: 1, owner: 'A', start: 120, end: 130 },
      { key: 'k2', seq: 1, partition: 1, epoch: 1, owner: 'C', start: 120, end: 140 },
      { key: 'k1', seq: 2, partition: 0, epoch: 2, owner: 'B', start: 11_200, end: 11_210 },
      { key: 'k1', seq: 3, partition: 0, epoch: 2, owner: 'B', start: 11_220, end: 11_230 },
    ],
    refused: [{ key: 'k1', seq: 3, partition: 0, epoch: 1, owner: 'A', start: 9_990, end: 12_000 }],
    faults: [{ id: 1, kind: 'kill', victim: 'A', at: 10_000, partitions: [0] }],
    history: [
      { partition: 0, from: null, to: 'A', epoch: 1, at: 50 },
      { partition: 1, from: null, to: 'C', epoch: 1, at: 50 },
      { partition: 0, from: 'A', to: 'B', epoch: 2, at: 11_100 },
    ],
  };
}

describe('chaos oracle', () => {
  it('passes a clean run (re-running the same seq after a crash is fine) and measures the fault', async () => {
    const report = await check(clean());
    expect(report.violations).toEqual([]);
    expect(report.counts).toMatchObject({ jobs: 4, executions: 5, reexecutions: 1, refused: 1, faults: 1 });
    expect(report.faults[0]).toMatchObject({
      kind: 'kill',
      partitions: 1,
      takeoverMaxMs: 1100,
      pending: 1,
      resumeMaxMs: 1200,
      refused: 1,
      problems: [],
    });
    expect(formatReport(report)).toMatch(/ok\s+lost\s+0/);
    expect(JSON.parse(summaryLine(report))).toMatchObject({
      chaos: 'summary',
      violations: 0,
      lost: 0,
      faults: 1,
    });
  });

  it('reports a lost job', async () => {
    const r = clean();
    r.jobs.push({ key: 'k9', seq: 1, partition: 1, enqueued: 5 });
    const report = await check(r);
    expect(report.lost).toEqual([{ key: 'k9', seq: 1 }]);
    expect(report.violations).toEqual(['lost: k9#1 was enqueued and never executed (accepted)']);
  });

  it('reports an execution that went back to an earlier seq', async () => {
    const r = clean();
    r.jobs.push({ key: 'k2', seq: 2, partition: 1, enqueued: 3 });
    // k2#2 ran before k2#1 (written first).
    r.executions.unshift({ key: 'k2', seq: 2, partition: 1, epoch: 1, owner: 'C', start: 60, end: 70 });
    const report = await check(r);
    expect(report.order).toEqual([expect.objectContaining({ key: 'k2', seq: 1, afterSeq: 2 })]);
    expect(report.violations).toHaveLength(1);
  });

  it('reports two owners running one partition at overlapping times', async () => {
    const r = clean();
    r.jobs.push({ key: 'k3', seq: 1, partition: 1, enqueued: 3 });
    r.executions.push({ key: 'k3', seq: 1, partition: 1, epoch: 2, owner: 'D', start: 130, end: 150 }); // C ran p1 until 140
    const report = await check(r);
    expect(report.overlaps).toEqual([
      {
        partition: 1,
        a: expect.objectContaining({ owner: 'C' }),
        b: expect.objectContaining({ owner: 'D' }),
      },
    ]);
    expect(report.violations).toEqual([
      expect.stringMatching(/^overlap: partition 1: C .* D .*started 10 ms earlier/),
    ]);
  });

  it('reports an accepted execution under an older epoch', async () => {
    const r = clean();
    r.jobs.push({ key: 'k1', seq: 4, partition: 0, enqueued: 9_500 });
    r.executions.push({ key: 'k1', seq: 4, partition: 0, epoch: 1, owner: 'A', start: 11_240, end: 11_250 }); // A wrote after B took epoch 2
    const report = await check(r);
    expect(report.epochRegressions).toEqual([
      expect.objectContaining({ partition: 0, epoch: 1, afterEpoch: 2 }),
    ]);
    expect(report.overlaps).toEqual([]); // A's write came after B's last one: no overlap, but a stale epoch
  });

  it('reports a slow takeover and a slow resume', async () => {
    const r = clean();
    r.history![2]!.at = 12_500; // TTL + 2.5 s after the kill
    r.executions[3]!.start = 15_500; // work resumed 5.5 s after the kill
    r.executions[3]!.end = 15_510;
    r.executions[4]!.start = 15_520;
    r.executions[4]!.end = 15_530;
    const report = await check(r);
    expect(report.faults[0]!.problems).toEqual([
      'partition 0 owned again after 2500 ms (bound 2000 ms)',
      'partition 0 ran again after 5500 ms (bound 4000 ms)',
    ]);
    expect(report.violations).toHaveLength(2);
    expect(formatReport(report)).toMatch(/FAIL faults\s+2/);
  });

  it('reports a partition nobody took over, and work that never ran again', async () => {
    const r = clean();
    r.history!.pop();
    r.executions.splice(3, 2);
    const report = await check(r);
    expect(report.faults[0]!.problems).toEqual([
      'partition 0 was never owned by another client after the fault',
      'partition 0 had work waiting and never ran again',
    ]);
    expect(report.lost).toEqual([{ key: 'k1', seq: 3 }]);
  });

  it('reports an execution of a job that was never enqueued, or in another partition', async () => {
    const r = clean();
    r.executions.push({ key: 'k2', seq: 1, partition: 3, epoch: 1, owner: 'C', start: 200, end: 210 });
    r.executions.push({ key: 'zz', seq: 1, partition: 1, epoch: 1, owner: 'C', start: 220, end: 230 });
    const report = await check(r);
    expect(report.misrouted).toEqual([
      { key: 'k2', seq: 1, partition: 3, expected: 1 },
      { key: 'zz', seq: 1, partition: 1, expected: null },
    ]);
  });
});
