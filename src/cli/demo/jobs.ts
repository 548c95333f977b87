/**
 * The jobs' side of the demo: every execution the workers report (key, seq, partition, epoch, worker,
 * pid, start, end), and the checks on them. Times are the workers' clocks (performance.timeOrigin +
 * now() on one host). The checks read executions sorted by start time, so the order in which two
 * processes' reports arrive does not matter.
 */
import type { JobMessage } from './fleet.js';

export interface Execution {
  key: string;
  seq: number;
  partition: number;
  epoch: number;
  worker: string;
  pid: number | undefined;
  start: number;
  /** Undefined while running, or forever if its process was killed during it. */
  end?: number;
}

export interface JobCheck {
  /** Distinct jobs (key, seq) that completed. */
  completed: number;
  /** Executions that started after a later job of their key had started, or before the previous one ended. */
  orderViolations: string[];
  /** Extra executions of a job whose earlier execution was cut by a SIGKILL (at-least-once). */
  killDuplicates: number;
  /** Extra executions of a job without that excuse. */
  otherDuplicates: string[];
  /** Two workers running jobs of one partition at overlapping times. */
  partitionOverlaps: string[];
}

/** Slack for comparing times taken in different processes (each derives its clock at its start). */
const SKEW_MS = 2;

export class JobLedger {
  readonly executions: Execution[] = [];
  readonly #running = new Map<string, Execution>();
  readonly #done = new Set<string>();
  readonly #recent: number[] = [];
  #cached: { at: number; check: JobCheck } | undefined;

  /** `killedAt`: worker id → when it was SIGKILLed. */
  constructor(readonly killedAt: Map<string, number>) {}

  record(worker: string, pid: number | undefined, m: JobMessage): void {
    const id = `${worker}\n${m.key}\n${m.seq}`;
    if (m.type === 'start') {
      const e: Execution = {
        key: m.key,
        seq: m.seq,
        partition: m.partition,
        epoch: m.epoch,
        worker,
        pid,
        start: m.t,
      };
      this.executions.push(e);
      this.#running.set(id, e);
      return;
    }
    const e = this.#running.get(id);
    this.#running.delete(id);
    if (e) e.end = m.end ?? m.t;
    this.#done.add(`${m.key}\n${m.seq}`);
    this.#recent.push(m.t);
  }

  /** Executions started on `worker` and not ended. */
  running(worker: string): number {
    let n = 0;
    for (const e of this.#running.values()) if (e.worker === worker) n++;
    return n;
  }

  get completed(): number {
    return this.#done.size;
  }

  /** Completions per second over the last 2 s. */
  rate(now: number): number {
    while (this.#recent.length > 0 && this.#recent[0]! < now - 2_000) this.#recent.shift();
    return this.#recent.length / 2;
  }

  /** `check()`, recomputed at most every 500 ms (for the live status). */
  live(now: number): JobCheck {
    if (!this.#cached || now - this.#cached.at >= 500) this.#cached = { at: now, check: this.check() };
    return this.#cached.check;
  }

  check(): JobCheck {
    const result: JobCheck = {
      completed: this.#done.size,
      orderViolations: [],
      killDuplicates: 0,
      otherDuplicates: [],
      partitionOverlaps: [],
    };
    const byKey = group(this.executions, (e) => e.key);
    for (const [key, list] of byKey) {
      list.sort((a, b) => a.start - b.start);
      let maxStarted = 0;
      const endOf = new Map<number, number>();
      const seen = new Map<number, Execution[]>();
      for (const e of list) {
        const earlier = seen.get(e.seq) ?? [];
        if (earlier.length > 0) {
          const excused = earlier.every((x) => this.#cut(x));
          if (excused) result.killDuplicates++;
          else
            result.otherDuplicates.push(
              `key ${key} seq ${e.seq} ran again on ${e.worker} after ${earlier.map((x) => x.worker).join(', ')}`,
            );
        }
        seen.set(e.seq, [...earlier, e]);
        if (e.seq < maxStarted)
          result.orderViolations.push(
            `key ${key}: seq ${e.seq} started on ${e.worker} after seq ${maxStarted} had started`,
          );
        else if (e.seq > 1 && !(e.start + SKEW_MS >= (endOf.get(e.seq - 1) ?? Infinity))) {
          result.orderViolations.push(
            `key ${key}: seq ${e.seq} started on ${e.worker} before seq ${e.seq - 1} had completed`,
          );
        }
        maxStarted = Math.max(maxStarted, e.seq);
        if (e.end !== undefined && !endOf.has(e.seq)) endOf.set(e.seq, e.end);
      }
    }
    for (const [partition, list] of group(this.executions, (e) => e.partition)) {
      list.sort((a, b) => a.start - b.start);
      let last: Execution | undefined;
      for (const e of list) {
        if (last && last.worker !== e.worker && e.start + SKEW_MS < this.#endOf(last)) {
          result.partitionOverlaps.push(
            `partition ${partition}: ${last.worker} (epoch ${last.epoch}) and ${e.worker} (epoch ${e.epoch}) ran jobs at the same time`,
          );
        }
        if (!last || this.#endOf(e) > this.#endOf(last)) last = e;
      }
    }
    return result;
  }

  /** Whether `e` was cut short by its worker's SIGKILL. */
  #cut(e: Execution): boolean {
    const killed = this.killedAt.get(e.worker);
    return killed !== undefined && e.start <= killed;
  }

  #endOf(e: Execution): number {
    return e.end ?? this.killedAt.get(e.worker) ?? Infinity;
  }
}

function group<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const map = new Map<K, T[]>();
  for (const item of items) {
    const list = map.get(key(item));
    if (list) list.push(item);
    else map.set(key(item), [item]);
  }
  return map;
}
