/**
 * The demo's job checks (src/cli/demo/jobs.ts) on made-up executions: each kind of broken guarantee is
 * found, and a re-run of a job cut by a SIGKILL is counted apart as at-least-once.
 */
import { expect, it } from 'vitest';

import type { JobMessage } from '../../src/cli/demo/fleet.js';
import { JobLedger } from '../../src/cli/demo/jobs.js';

type Run = [worker: string, key: string, seq: number, partition: number, start: number, end?: number];

function ledger(runs: Run[], killedAt: Record<string, number> = {}): JobLedger {
  const l = new JobLedger(new Map(Object.entries(killedAt)));
  for (const [worker, key, seq, partition, start, end] of runs) {
    const base = { key, seq, partition, epoch: 1 };
    l.record(worker, 1, { ...base, type: 'start', t: start } satisfies JobMessage);
    if (end !== undefined)
      l.record(worker, 1, { ...base, type: 'end', t: end, start, end } satisfies JobMessage);
  }
  return l;
}

it('accepts jobs of a key run one after the other, across a handover', () => {
  const c = ledger([
    ['w1', 'a', 1, 0, 0, 10],
    ['w1', 'a', 2, 0, 11, 20],
    ['w2', 'a', 3, 0, 50, 60],
    ['w2', 'b', 1, 1, 0, 5],
  ]).check();
  expect(c).toEqual({
    completed: 4,
    orderViolations: [],
    killDuplicates: 0,
    otherDuplicates: [],
    partitionOverlaps: [],
  });
});

it('finds a job started before the previous one of its key completed, and one started after a later one', () => {
  const early = ledger([
    ['w1', 'a', 1, 0, 0, 10],
    ['w1', 'a', 2, 0, 5, 20],
  ]).check();
  expect(early.orderViolations).toEqual(['key a: seq 2 started on w1 before seq 1 had completed']);
  const late = ledger([
    ['w1', 'a', 2, 0, 0, 10],
    ['w1', 'a', 1, 0, 11, 20],
  ]).check();
  expect(late.orderViolations).toEqual(
    expect.arrayContaining(['key a: seq 1 started on w1 after seq 2 had started']),
  );
});

it('excuses the re-run of a job cut by a SIGKILL, and no other duplicate', () => {
  const cut = ledger(
    [
      ['w1', 'a', 1, 0, 0],
      ['w2', 'a', 1, 0, 1100, 1110],
    ],
    { w1: 5 },
  ).check();
  expect(cut.killDuplicates).toBe(1);
  expect(cut.otherDuplicates).toEqual([]);
  expect(cut.completed).toBe(1);
  const twice = ledger([
    ['w1', 'a', 1, 0, 0, 10],
    ['w2', 'a', 1, 0, 100, 110],
  ]).check();
  expect(twice.otherDuplicates).toEqual(['key a seq 1 ran again on w2 after w1']);
});

it('finds two workers running jobs of one partition at the same time', () => {
  const c = ledger([
    ['w1', 'a', 1, 7, 0, 100],
    ['w2', 'b', 1, 7, 50, 60],
  ]).check();
  expect(c.partitionOverlaps).toEqual([
    'partition 7: w1 (epoch 1) and w2 (epoch 1) ran jobs at the same time',
  ]);
});
