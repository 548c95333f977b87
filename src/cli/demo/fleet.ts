/**
 * The demo's worker processes and what they report. Each worker's sampled `values()` become ownership
 * intervals [first sample listing p, last sample listing p] per (partition, epoch); the parent checks
 * exclusivity from those, not from the library's own bookkeeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const clock = () => performance.timeOrigin + performance.now();

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

export interface WorkerSettings {
  databaseUrl: string;
  schema: string;
  partitions: number;
  ttl: number;
  heartbeat: number;
}

/** How to start the worker script: through tsx from source, plain node once built. */
function workerCommand(): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`./demo-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return fromSource ? ['--import', import.meta.resolve('tsx'), file] : [file];
}

export class DemoWorker {
  readonly proc: ChildProcess;
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
    settings: WorkerSettings,
    readonly intervals: Interval[],
    readonly acquisitions: Acquisition[],
    onChange: (worker: DemoWorker) => void,
  ) {
    this.proc = spawn(process.execPath, workerCommand(), {
      env: {
        ...process.env,
        DATABASE_URL: settings.databaseUrl,
        DEMO_ID: id,
        DEMO_SCHEMA: settings.schema,
        DEMO_PARTITIONS: String(settings.partitions),
        DEMO_TTL: String(settings.ttl),
        DEMO_HEARTBEAT: String(settings.heartbeat),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let m: { t: number; type: string; values?: number[]; epochs?: number[]; message?: string };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return;
      }
      if (m.type === 'ready') {
        this.readyAt = m.t;
        if (this.state === 'starting') this.state = 'live';
      } else if (m.type === 'values') {
        const before = this.values.join(',');
        this.#sample(m.t, m.values ?? [], m.epochs ?? []);
        if (this.values.join(',') !== before) onChange(this);
      } else if (m.type === 'fatal') this.fatal = m.message;
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    this.proc.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', () => {
        for (const iv of this.#open.values()) this.intervals.push(iv);
        this.#open.clear();
        if (this.state !== 'killed') this.state = 'exited';
        const had = this.values.length > 0;
        this.values = [];
        if (had) onChange(this);
        resolve();
      }),
    );
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
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
    if (this.running) this.proc.kill('SIGKILL');
  }

  close(): void {
    if (this.state !== 'killed') this.state = 'closing';
    if (this.running) this.proc.kill('SIGTERM');
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
