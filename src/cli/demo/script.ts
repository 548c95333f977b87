/**
 * The demo's printed script: split → SIGKILL one worker → start a fourth → close one gracefully → end.
 * Each step starts at its scheduled time or once the previous one settled, whichever is later, and is
 * measured from the workers' own samples (child clocks: performance.timeOrigin + now()).
 */
import { compactRanges } from '../../dashboard/ranges.js';
import { balanced, clock, DemoWorker, overlaps, type Acquisition, type Interval, type WorkerSettings } from './fleet.js';
import type { Screen } from './screen.js';

export interface Phase {
  kind: 'failover' | 'join' | 'handoff';
  worker: string;
  /** When the fault was injected (join: when the newcomer's client was ready). */
  t0: number;
  /** ms until every partition was owned again (join: until balanced); undefined if it never happened. */
  ms?: number;
  /** The fewest moves that can do it: the partitions orphaned, or the newcomer's share. */
  minMoves: number;
  /** Acquisitions observed from t0 until the next phase (or the end). */
  moves: number;
}

export interface RunResult {
  initialMs?: number;
  phases: Phase[];
  overlaps: [Interval, Interval][];
  balancedAtEnd: boolean;
  /** The ownership table just before the fleet was stopped. */
  finalTable: string;
  interrupted: boolean;
  failure?: string;
}

export interface ScriptOptions extends WorkerSettings {
  durationMs: number;
  faults: boolean;
  keep: boolean;
}

export class DemoScript {
  readonly workers: DemoWorker[] = [];
  readonly #intervals: Interval[] = [];
  readonly #acquisitions: Acquisition[] = [];
  readonly #abort = new AbortController();
  readonly startedAt = clock();
  screen!: Screen;

  constructor(readonly opts: ScriptOptions) {}

  /** Ctrl-C: every wait returns at once, then the fleet is stopped. */
  interrupt(): void {
    this.#abort.abort();
  }

  get interrupted(): boolean {
    return this.#abort.signal.aborted;
  }

  async run(): Promise<RunResult> {
    const o = this.opts;
    const result: RunResult = { phases: [], overlaps: [], balancedAtEnd: false, finalTable: '', interrupted: false };
    try {
      await this.#steps(result);
    } finally {
      result.balancedAtEnd = result.balancedAtEnd || (!this.interrupted && balanced(this.workers, o.partitions));
      const end = clock();
      result.phases.forEach((p, i) => {
        const until = result.phases[i + 1]?.t0 ?? end;
        const from = p.kind === 'join' ? this.workers.find((w) => w.id === p.worker)!.startedAt : p.t0;
        p.moves = this.#acquisitions.filter((a) => a.t >= from && a.t < until).length;
      });
      result.finalTable = this.screen.table();
      await this.#stopAll();
      result.overlaps = overlaps(this.#intervals);
      result.interrupted = this.interrupted;
    }
    return result;
  }

  async #steps(result: RunResult): Promise<void> {
    const o = this.opts;
    const at = (fraction: number) => this.startedAt + o.durationMs * fraction;
    this.screen.event(`starting 3 workers on ${o.partitions} partitions (ttl ${o.ttl} ms, heartbeat ${o.heartbeat} ms)`);
    for (const id of ['w1', 'w2', 'w3']) this.#spawn(id);
    if (!(await this.#until(() => this.workers.every((w) => w.readyAt !== undefined), 60_000))) return this.#fail(result, 'the workers did not start');
    const readyAt = Math.max(...this.workers.map((w) => w.readyAt!));
    if (!(await this.#until(() => balanced(this.workers, o.partitions), 30_000))) return this.#fail(result, 'the first split never balanced');
    result.initialMs = clock() - readyAt;
    this.screen.event(`split: ${this.#counts()} (balanced ${Math.round(result.initialMs)} ms after the last worker was ready)`);

    if (o.faults) {
      await this.#sleepUntil(at(0.25));
      const victim = this.workers[0]!;
      const crash = await this.#orphan(result, 'failover', victim, () => victim.kill(), `SIGKILL ${victim.id}`);
      if (!crash) return;
      this.screen.event(`${crash.worker}'s ${crash.minMoves} partitions owned again after ${Math.round(crash.ms!)} ms (ttl ${o.ttl} ms): ${this.#counts()}`);

      await this.#sleepUntil(at(0.5));
      if (this.interrupted) return;
      const w4 = this.#spawn('w4');
      this.screen.event(`starting ${w4.id}`);
      if (!(await this.#until(() => w4.readyAt !== undefined, 60_000))) return this.#fail(result, `${w4.id} did not start`);
      const join: Phase = { kind: 'join', worker: w4.id, t0: w4.readyAt!, minMoves: 0, moves: 0 };
      result.phases.push(join);
      if (!(await this.#until(() => balanced(this.workers, o.partitions), 10_000 + 4 * o.heartbeat))) return this.#fail(result, `the split never balanced after ${w4.id} joined`);
      join.ms = clock() - join.t0;
      join.minMoves = w4.values.length;
      this.screen.event(`${w4.id} ready ${Math.round(w4.readyAt! - w4.startedAt)} ms after spawn, balanced ${Math.round(join.ms)} ms later: ${this.#counts()}`);

      await this.#sleepUntil(at(0.75));
      const leaver = this.workers.find((w) => w.state === 'live' && w.id !== w4.id)!;
      const handoff = await this.#orphan(result, 'handoff', leaver, () => leaver.close(), `closing ${leaver.id} gracefully (SIGTERM → client.close())`);
      if (!handoff) return;
      this.screen.event(`${handoff.worker}'s ${handoff.minMoves} partitions handed over in ${Math.round(handoff.ms!)} ms: ${this.#counts()}`);
    }

    await this.#sleepUntil(at(1));
    result.balancedAtEnd = balanced(this.workers, o.partitions);
    if (o.keep && !this.interrupted) {
      this.screen.event(`keeping the fleet running: Ctrl-C to stop (try \`dbleases status --schema ${o.schema}\`)`);
      await this.#until(() => false, Infinity);
    }
  }

  /** Kills or closes `worker` and waits until every partition it owned is owned by another worker. */
  async #orphan(result: RunResult, kind: 'failover' | 'handoff', worker: DemoWorker, act: () => void, what: string): Promise<Phase | undefined> {
    if (this.interrupted) return undefined;
    const orphaned = worker.values.slice();
    this.screen.event(`${what} (it owns ${orphaned.length}: ${compactRanges(orphaned)})`);
    const phase: Phase = { kind, worker: worker.id, t0: clock(), minMoves: orphaned.length, moves: 0 };
    result.phases.push(phase);
    act();
    const takenAt = () => {
      let last = phase.t0;
      for (const p of orphaned) {
        const a = this.#acquisitions.find((x) => x.t >= phase.t0 && x.partition === p && x.worker !== worker.id);
        if (!a) return undefined;
        last = Math.max(last, a.t);
      }
      return last;
    };
    const deadline = this.opts.ttl + 10_000;
    if (!(await this.#until(() => takenAt() !== undefined && balanced(this.workers, this.opts.partitions), deadline))) {
      this.#fail(result, `${worker.id}'s partitions were not all owned again within ${deadline} ms`);
      return undefined;
    }
    phase.ms = takenAt()! - phase.t0;
    return phase;
  }

  #fail(result: RunResult, message: string): void {
    if (this.interrupted) return;
    const fatal = this.workers.find((w) => w.fatal)?.fatal;
    result.failure = fatal ? `${message}: ${fatal}` : message;
    this.screen.event(`FAILED: ${result.failure}`);
  }

  #spawn(id: string): DemoWorker {
    const w = new DemoWorker(id, this.opts, this.#intervals, this.#acquisitions, (x) => this.screen.changed(x));
    this.workers.push(w);
    return w;
  }

  #counts(): string {
    return this.workers
      .filter((w) => w.state === 'live')
      .map((w) => `${w.id} ${w.values.length}`)
      .join(', ');
  }

  /** Polls `check` every 10 ms until it holds (true), the deadline passes or Ctrl-C (false). */
  async #until(check: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = clock() + timeoutMs;
    while (!this.interrupted && clock() < end) {
      if (check()) return true;
      if (this.workers.some((w) => w.fatal)) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  async #sleepUntil(t: number): Promise<void> {
    await this.#until(() => clock() >= t, Infinity);
  }

  /** Closes every worker gracefully; SIGKILLs whatever still runs after 5 s. */
  async #stopAll(): Promise<void> {
    for (const w of this.workers) if (w.running) w.close();
    const all = Promise.all(this.workers.map((w) => w.exited));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 5_000)));
    if ((await Promise.race([all, late])) === 'late') for (const w of this.workers) w.kill();
    clearTimeout(timer);
    await all;
  }
}
