/** The table printed at the end of the demo, and which guarantees failed. */
import { formatTable } from '../table.js';
import type { RunResult, ScriptOptions } from './script.js';

export interface Summary {
  text: string;
  /** Guarantees that failed (empty: exit 0). */
  failed: string[];
}

const ms = (v: number | undefined) => (v === undefined ? 'never' : `${Math.round(v)} ms`);

export function summarize(result: RunResult, o: ScriptOptions): Summary {
  const failed: string[] = [];
  const rows = [['MEASURE', 'VALUE', 'TARGET', 'RESULT']];
  const timing = (name: string, value: number | undefined, target: number, targetText: string) => {
    // Timings depend on the machine's load: a slow one is reported, not counted as a broken guarantee.
    const verdict = value === undefined ? 'FAILED' : value <= target ? 'ok' : 'slower than target';
    if (value === undefined) failed.push(`${name} never completed`);
    rows.push([name, ms(value), targetText, verdict]);
  };
  for (const p of result.phases) {
    if (p.kind === 'failover')
      timing(
        `failover (SIGKILL ${p.worker} → owned again)`,
        p.ms,
        o.ttl + 1000,
        `≤ ${o.ttl + 1000} ms (ttl + 1 s)`,
      );
    if (p.kind === 'join')
      timing(
        `join ${p.worker} → balanced ±1`,
        p.ms,
        2 * o.heartbeat,
        `≤ ${2 * o.heartbeat} ms (2 heartbeats)`,
      );
    if (p.kind === 'failover' && p.resumedMs !== undefined)
      timing(
        `first job of ${p.worker}'s partitions after the SIGKILL`,
        p.resumedMs,
        o.ttl + 3000,
        `≤ ${o.ttl + 3000} ms (ttl + 3 s)`,
      );
    if (p.kind === 'handoff') timing(`handoff (close ${p.worker} → owned again)`, p.ms, 1000, '< 1000 ms');
  }
  for (const p of result.phases) {
    const ok = p.ms !== undefined && p.moves === p.minMoves;
    if (p.ms !== undefined && !ok)
      failed.push(`${p.kind} moved ${p.moves} partitions, the minimum is ${p.minMoves}`);
    rows.push([
      `partitions moved (${p.kind} ${p.worker})`,
      String(p.moves),
      `= ${p.minMoves} (minimum)`,
      ok ? 'ok' : 'FAILED',
    ]);
  }
  const jobs = result.jobs;
  if (jobs) {
    const lost = result.enqueued - jobs.completed;
    const row = (name: string, value: number, target: string, ok: boolean, failure: string) => {
      if (!ok) failed.push(failure);
      rows.push([name, String(value), target, ok ? 'ok' : 'FAILED']);
    };
    rows.push(['jobs enqueued', String(result.enqueued), '', '']);
    rows.push([
      'jobs processed',
      String(jobs.completed),
      `= ${result.enqueued}`,
      lost === 0 ? 'ok' : 'FAILED',
    ]);
    if (!result.interrupted) row('jobs lost', lost, '0', lost === 0, `${lost} jobs lost`);
    row(
      'order violations (per key)',
      jobs.orderViolations.length,
      '0',
      jobs.orderViolations.length === 0,
      `${jobs.orderViolations.length} order violations`,
    );
    row(
      'duplicate executions (not from SIGKILL)',
      jobs.otherDuplicates.length,
      '0',
      jobs.otherDuplicates.length === 0,
      `${jobs.otherDuplicates.length} duplicate executions not excused by a SIGKILL`,
    );
    rows.push([
      'duplicate executions (job cut by SIGKILL)',
      String(jobs.killDuplicates),
      'allowed (at least once)',
      'ok',
    ]);
    row(
      'jobs of one partition on two workers at once',
      jobs.partitionOverlaps.length,
      '0',
      jobs.partitionOverlaps.length === 0,
      `${jobs.partitionOverlaps.length} overlapping job executions in a partition`,
    );
  }
  const overlap = result.overlaps.length;
  if (overlap > 0) failed.push(`${overlap} overlapping ownership intervals`);
  rows.push([
    'overlapping partition ownership (lease samples)',
    String(overlap),
    '0',
    overlap === 0 ? 'ok' : 'FAILED',
  ]);
  if (!result.interrupted) {
    if (!result.balancedAtEnd) failed.push('not balanced at the end');
    rows.push([
      'balanced ±1 at the end',
      result.balancedAtEnd ? 'yes' : 'no',
      'yes',
      result.balancedAtEnd ? 'ok' : 'FAILED',
    ]);
  }
  if (result.failure) failed.push(result.failure);
  const examples = result.overlaps
    .slice(0, 3)
    .map(
      ([a, b]) =>
        `  partition ${a.partition}: ${a.worker} (epoch ${a.epoch}) and ${b.worker} (epoch ${b.epoch}) both listed it, ${Math.round(a.to - b.from)} ms apart`,
    );
  if (jobs)
    examples.push(
      ...[...jobs.orderViolations, ...jobs.otherDuplicates, ...jobs.partitionOverlaps]
        .slice(0, 5)
        .map((x) => `  ${x}`),
    );
  const text = [formatTable(rows), ...examples].join('\n');
  return { text, failed };
}
