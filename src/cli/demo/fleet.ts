/**
 * The demo's worker processes and what they report. Each worker's sampled `values()` become ownership
 * intervals [first sample listing p, last sample listing p] per (partition, epoch); the parent checks
 * exclusivity from those, not from the library's own bookkeeping.
 */
import { childRunner, inProcessRunner, type Message, type Runner } from './runner.js';
import { now as clock, type WorkerConfig } from './worker-core.js';

export { clock };

export interface Interval {
  worker: string;
  partition: number;
  epoch: number;
  from: number;
  to: number;
}

/** A partition a worker started to list (new, or with a new epoch). */
export interface Acquisition {
  t: number;
  worker: string;
  partition: number;
}

/** A lease-only worker (lease-worker.ts, no BullMQ), as bench/lease/timings.ts runs them. */
export interface LeaseOnlySettings {
  databaseUrl: string;
  schema: string;
  partitions: number;
  ttl: number;
  heartbeat: number;
}

/** How a demo worker is run: a child process on Postgres, or inside the demo on its embedded database. */
export interface WorkerSettings {
  /** Postgres URL for child processes; undefined with `inProcessDb`. */
  databaseUrl: string | undefined;
  /** The embedded database (PGlite) the in-process workers share. */
  inProcessDb: unknown;
  worker: Omit<WorkerConfig, 'id'>;
}

export interface JobMessage {
  type: 'start' | 'end';
  t: number;
  key: string;
  seq: number;
  partition: number;
  epoch: number;
  start?: number;
  end?: number;
}

export class DemoWorker {
  readonly #runner: Runner;
  readonly startedAt = clock();
  readyAt: number | undefined;
  values: number[] = [];
  state: 'starting' | 'live' | 'closing' | 'killed' | 'exited' = 'starting';
  fatal: string | undefined;
  stderr = '';
  readonly exited: Promise<void>;
  readonly #open = new Map<number, Interval>();

  constructor(
    readonly id: string,
    settings: WorkerSettings | LeaseOnlySettings,
    readonly intervals: Interval[],
    readonly acquisitions: Acquisition[],
    onChange: (worker: DemoWorker) => void,
    onJob: (worker: DemoWorker, job: JobMessage) => void = () => {},
  ) {
    const onMessage = (m: Message) => {
      if (m.type === 'start' || m.type === 'end') onJob(this, m as unknown as JobMessage);
      else if (m.type === 'values') {
        const before = this.values.join(',');
        this.#sample(m.t, m.values ?? [], m.epochs ?? []);
        if (this.values.join(',') !== before) onChange(this);
      } else if (m.type === 'ready') {
        this.readyAt = m.t;
        if (this.state === 'starting') this.state = 'live';
      } else if (m.type === 'fatal') this.fatal = m.message;
    };
    const onStderr = (text: string) => (this.stderr = (this.stderr + text).slice(-2000));
    if (!('worker' in settings)) {
      const { databaseUrl, schema, partitions, ttl, heartbeat } = settings;
      const env = {
        DATABASE_URL: databaseUrl,
        DEMO_ID: id,
        DEMO_SCHEMA: schema,
        DEMO_PARTITIONS: `${partitions}`,
        DEMO_TTL: `${ttl}`,
        DEMO_HEARTBEAT: `${heartbeat}`,
      };
      this.#runner = childRunner('lease-worker', env, onMessage, onStderr);
    } else {
      const cfg: WorkerConfig = { ...settings.worker, id };
      this.#runner =
        settings.databaseUrl !== undefined
          ? childRunner(
              'demo-worker',
              { DATABASE_URL: settings.databaseUrl, DEMO_WORKER: JSON.stringify(cfg) },
              onMessage,
              onStderr,
            )
          : inProcessRunner(settings.inProcessDb, cfg, onMessage);
    }
    this.exited = this.#runner.exited.then(() => {
      for (const iv of this.#open.values()) this.intervals.push(iv);
      this.#open.clear();
      if (this.state !== 'killed') this.state = 'exited';
      const had = this.values.length > 0;
      this.values = [];
      if (had) onChange(this);
    });
  }

  get pid(): number | undefined {
    return this.#runner.pid;
  }

  get running(): boolean {
    return this.#runner.running;
  }

  #sample(t: number, values: number[], epochs: number[]): void {
    this.values = values;
    values.forEach((p, i) => {
      const epoch = epochs[i] ?? -1;
      const cur = this.#open.get(p);
      if (cur && cur.epoch === epoch) cur.to = t;
      else {
        if (cur) this.intervals.push(cur);
        this.#open.set(p, { worker: this.id, partition: p, epoch, from: t, to: t });
        this.acquisitions.push({ t, worker: this.id, partition: p });
      }
    });
    const present = new Set(values);
    for (const [p, iv] of this.#open) {
      if (!present.has(p)) {
        this.intervals.push(iv);
        this.#open.delete(p);
      }
    }
  }

  kill(): void {
    this.state = 'killed';
    this.#runner.kill();
  }

  close(): void {
    if (this.state !== 'killed') this.state = 'closing';
    this.#runner.close();
  }
}

/** Pairs of intervals of one partition, in different workers, that overlap in time. */
export function overlaps(intervals: Interval[]): [Interval, Interval][] {
  const found: [Interval, Interval][] = [];
  const byPartition = new Map<number, Interval[]>();
  for (const iv of intervals) byPartition.set(iv.partition, [...(byPartition.get(iv.partition) ?? []), iv]);
  for (const list of byPartition.values()) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j]!.from <= list[i]!.to; j++) {
        if (list[j]!.worker !== list[i]!.worker) found.push([list[i]!, list[j]!]);
      }
    }
  }
  return found;
}

/** Whether the live workers' latest samples split 0..size-1 exactly once, with max − min ≤ 1. */
export function balanced(workers: DemoWorker[], size: number): boolean {
  const live = workers.filter((w) => w.state === 'live');
  if (live.length === 0) return false;
  const all = live.flatMap((w) => w.values).sort((a, b) => a - b);
  if (all.length !== size || all.some((p, i) => p !== i)) return false;
  const counts = live.map((w) => w.values.length);
  return Math.max(...counts) - Math.min(...counts) <= 1;
}
