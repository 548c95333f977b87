import type { Child } from './child.js';

export interface Interval {
  pid: number;
  partition: number;
  epoch: number | undefined;
  from: number;
  to: number;
}

/**
 * Turns each child's sampled `values` lines into intervals [first sample listing p, last sample listing p]
 * per partition. A paused process stops sampling, so its interval ends at its last sample before the pause.
 */
export function ownershipIntervals(children: Child[]): Interval[] {
  const intervals: Interval[] = [];
  for (const child of children) {
    const open = new Map<number, Interval>();
    for (const m of child.messages) {
      if (m.type !== 'values') continue;
      const values = m.values as number[];
      const epochs = m.epochs as (number | undefined)[];
      const present = new Set(values);
      values.forEach((p, i) => {
        const cur = open.get(p);
        if (cur && cur.epoch === epochs[i]) cur.to = m.t;
        else {
          if (cur) intervals.push(cur);
          open.set(p, { pid: child.pid, partition: p, epoch: epochs[i], from: m.t, to: m.t });
        }
      });
      for (const [p, iv] of open) {
        if (!present.has(p)) {
          intervals.push(iv);
          open.delete(p);
        }
      }
    }
    intervals.push(...open.values());
  }
  return intervals;
}

/** Pairs of intervals of one partition, in different processes, that overlap in time. */
export function overlaps(intervals: Interval[]): [Interval, Interval][] {
  const found: [Interval, Interval][] = [];
  const byPartition = new Map<number, Interval[]>();
  for (const iv of intervals) byPartition.set(iv.partition, [...(byPartition.get(iv.partition) ?? []), iv]);
  for (const list of byPartition.values()) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j]!.from <= list[i]!.to; j++) {
        if (list[j]!.pid !== list[i]!.pid) found.push([list[i]!, list[j]!]);
      }
    }
  }
  return found;
}

/** The values each child listed in its latest sample. */
export function currentValues(children: Child[]): number[][] {
  return children.map((c) => (c.last('values')?.values as number[] | undefined) ?? []);
}

/** Whether the children's latest samples split 0..size-1 exactly once, with max − min ≤ 1. */
export function balanced(children: Child[], size: number): boolean {
  const lists = currentValues(children);
  const all = lists.flat().sort((a, b) => a - b);
  if (all.length !== size || all.some((p, i) => p !== i)) return false;
  const counts = lists.map((l) => l.length);
  return Math.max(...counts) - Math.min(...counts) <= 1;
}
