/**
 * The demo's printed script: split → SIGKILL one worker → start one more → stop one gracefully → drain,
 * while the producer adds jobs.
 * Each step starts at its scheduled time or once the previous one settled, whichever is later, and is
 * measured from the workers' own samples (child clocks: performance.timeOrigin + now()).
 */
import { compactRanges } from '../../dashboard/ranges.js';
import {
  type Acquisition,
  balanced,
  clock,
  DemoWorker,
  type Interval,
  overlaps,
  type WorkerSettings,
} from './fleet.js';
import { type JobCheck, JobLedger } from './jobs.js';
import { Producer, type ProducerOptions } from './producer.js';
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
  /** The partitions the worker owned when it was killed or closed. */
  orphaned: number[];
  /** Failover: ms from the kill until another worker started a job of one of those partitions. */
  resumedMs?: number;
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
  /** Jobs the producer added. */
  enqueued: number;
  jobs?: JobCheck;
  /** ms from the start until the last job completed (undefined: it never drained). */
  drainedAt?: number;
  /** Faults left out, with the reason. */
  skipped: string[];
}

export interface ScriptOptions {
  workers: number;
  partitions: number;
  ttl: number;
  heartbeat: number;
  schema: string;
  durationMs: number;
  faults: boolean;
  keep: boolean;
  jobs: number;
  /** Workers run inside this process (PGlite): there is no process to SIGKILL. */
  inProcess: boolean;
  settings: WorkerSettings;
  producer: ProducerOptions;
}

export class DemoScript {
  readonly workers: DemoWorker[] = [];
  readonly #intervals: Interval[] = [];
  readonly #acquisitions: Acquisition[] = [];
  readonly #abort = new AbortController();
  readonly killedAt = new Map<string, number>();
  readonly ledger = new JobLedger(this.killedAt);
  readonly producer: Producer;
  readonly startedAt = clock();
  screen!: Screen;

  constructor(readonly opts: ScriptOptions) {
    this.producer = new Producer(opts.producer);
  }

  /** Ctrl-C: every wait returns at once, then the fleet is stopped. */
  interrupt(): void {
    this.#abort.abort();
    this.producer.stop();
  }

  get interrupted(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Ownership changes seen so far (every partition a worker started to list). */
  get moves(): number {
    return this.#acquisitions.length;
  }

  async run(): Promise<RunResult> {
    const o = this.opts;
    const result: RunResult = {
      phases: [],
      overlaps: [],
      balancedAtEnd: false,
      finalTable: '',
      interrupted: false,
      enqueued: 0,
      skipped: [],
    };
    const producing = this.producer.run();
    try {
      await this.#steps(result, producing);
    } finally {
      result.balancedAtEnd =
        result.balancedAtEnd || (!this.interrupted && balanced(this.workers, o.partitions));
      const end = clock();
      result.phases.forEach((p, i) => {
        const until = result.phases[i + 1]?.t0 ?? end;
        const from = p.kind === 'join' ? this.workers.find((w) => w.id === p.worker)!.startedAt : p.t0;
        p.moves = this.#acquisitions.filter((a) => a.t >= from && a.t < until).length;
      });
      result.finalTable = this.screen.table();
      this.producer.stop();
      await producing;
      await this.#stopAll();
      await this.producer.close();
      result.enqueued = this.producer.added;
      result.overlaps = overlaps(this.#intervals);
      result.jobs = this.ledger.check();
      for (const p of result.phases.filter((x) => x.kind === 'failover')) {
        const orphaned = new Set(p.orphaned);
        const starts = this.ledger.executions
          .filter((e) => e.worker !== p.worker && e.start >= p.t0 && orphaned.has(e.partition))
          .map((e) => e.start);
        if (starts.length > 0) p.resumedMs = Math.min(...starts) - p.t0;
      }
      result.interrupted = this.interrupted;
    }
    return result;
  }

  async #steps(result: RunResult, producing: Promise<void>): Promise<void> {
    const o = this.opts;
    const at = (fraction: number) => this.startedAt + o.durationMs * fraction;
    const where = o.inProcess ? 'inside this process' : 'as child processes';
    this.screen.event(
      `starting ${o.workers} workers ${where} on ${o.partitions} partitions (ttl ${o.ttl} ms, heartbeat ${o.heartbeat} ms); producing ${o.jobs} jobs for ${o.producer.keys} keys over ${Math.round(o.producer.spreadMs / 1000)} s`,
    );
    for (let i = 1; i <= o.workers; i++) this.#spawn(`w${i}`);
    if (!(await this.#until(() => this.workers.every((w) => w.readyAt !== undefined), 60_000)))
      return this.#fail(result, 'the workers did not start');
    const readyAt = Math.max(...this.workers.map((w) => w.readyAt!));
    if (!(await this.#until(() => balanced(this.workers, o.partitions), 30_000)))
      return this.#fail(result, 'the first split never balanced');
    result.initialMs = clock() - readyAt;
    this.screen.event(
      `split: ${this.#counts()} (balanced ${Math.round(result.initialMs)} ms after the last worker was ready)`,
    );

    if (o.faults) {
      await this.#sleepUntil(at(0.25));
      if (o.inProcess) {
        const why =
          'the SIGKILL: the workers run inside this process (PGlite serves one process), so there is no worker process to kill';
        result.skipped.push(why);
        this.screen.event(`skipping ${why}`);
      } else {
        const victim = this.workers[0]!;
        // Kill it in the middle of a job (waiting up to 2 s for one), so the crash interrupts work.
        await this.#until(() => this.ledger.running(victim.id) > 0, 2_000);
        const inFlight = this.ledger.running(victim.id);
        const crash = await this.#orphan(
          result,
          'failover',
          victim,
          () => {
            this.killedAt.set(victim.id, clock());
            victim.kill();
          },
          `SIGKILL ${victim.id} (pid ${victim.pid}, ${inFlight} job${inFlight === 1 ? '' : 's'} in flight)`,
        );
        if (!crash) return;
        this.screen.event(
          `${crash.worker}'s ${crash.minMoves} partitions owned again after ${Math.round(crash.ms!)} ms (ttl ${o.ttl} ms): ${this.#counts()}`,
        );
      }

      await this.#sleepUntil(at(0.5));
      if (this.interrupted) return;
      const joiner = this.#spawn(`w${o.workers + 1}`);
      this.screen.event(`starting ${joiner.id}`);
      if (!(await this.#until(() => joiner.readyAt !== undefined, 60_000)))
        return this.#fail(result, `${joiner.id} did not start`);
      const join: Phase = {
        kind: 'join',
        worker: joiner.id,
        t0: joiner.readyAt!,
        minMoves: 0,
        moves: 0,
        orphaned: [],
      };
      result.phases.push(join);
      if (!(await this.#until(() => balanced(this.workers, o.partitions), 10_000 + 4 * o.heartbeat)))
        return this.#fail(result, `the split never balanced after ${joiner.id} joined`);
      join.ms = clock() - join.t0;
      join.minMoves = joiner.values.length;
      this.screen.event(
        `${joiner.id} ready ${Math.round(joiner.readyAt! - joiner.startedAt)} ms after spawn, balanced ${Math.round(join.ms)} ms later: ${this.#counts()}`,
      );

      await this.#sleepUntil(at(0.75));
      const leaver = this.workers.find((w) => w.state === 'live' && w.id !== joiner.id)!;
      await this.#until(() => this.ledger.running(leaver.id) > 0, 2_000);
      const busy = this.ledger.running(leaver.id);
      const handoff = await this.#orphan(
        result,
        'handoff',
        leaver,
        () => leaver.close(),
        `stopping ${leaver.id} gracefully (SIGTERM → worker.close(): ${busy === 0 ? 'no job in flight' : `its ${busy} in-flight job${busy === 1 ? '' : 's'} finish first`}, then the partitions are released)`,
      );
      if (!handoff) return;
      this.screen.event(
        `${handoff.worker}'s ${handoff.minMoves} partitions handed over in ${Math.round(handoff.ms!)} ms: ${this.#counts()}`,
      );
    }

    await producing;
    if (this.producer.error) return this.#fail(result, `the producer failed: ${this.producer.error}`);
    if (this.interrupted) return;
    this.screen.event(`all ${this.producer.added} jobs enqueued; letting the queue drain`);
    const drainLimit = 30_000 + o.durationMs;
    if (!(await this.#until(() => this.ledger.completed >= this.producer.added, drainLimit))) {
      return this.#fail(
        result,
        `the queue did not drain within ${drainLimit / 1000} s: ${this.producer.added - this.ledger.completed} jobs not processed`,
      );
    }
    result.drainedAt = clock() - this.startedAt;
    this.screen.event(`queue drained: ${this.ledger.completed} jobs processed`);
    result.balancedAtEnd = balanced(this.workers, o.partitions);
    if (o.keep && !this.interrupted) {
      this.screen.event(
        `keeping the fleet and the dashboard running: Ctrl-C to stop (try \`dbleases status --schema ${o.schema}\`)`,
      );
      await this.#until(() => false, Infinity);
    }
  }

  /** Kills or closes `worker` and waits until every partition it owned is owned by another worker. */
  async #orphan(
    result: RunResult,
    kind: 'failover' | 'handoff',
    worker: DemoWorker,
    act: () => void,
    what: string,
  ): Promise<Phase | undefined> {
    if (this.interrupted) return undefined;
    const orphaned = worker.values.slice();
    this.screen.event(`${what} (it owns ${orphaned.length}: ${compactRanges(orphaned)})`);
    const phase: Phase = {
      kind,
      worker: worker.id,
      t0: clock(),
      minMoves: orphaned.length,
      moves: 0,
      orphaned,
    };
    result.phases.push(phase);
    act();
    const takenAt = () => {
      let last = phase.t0;
      for (const p of orphaned) {
        const a = this.#acquisitions.find(
          (x) => x.t >= phase.t0 && x.partition === p && x.worker !== worker.id,
        );
        if (!a) return undefined;
        last = Math.max(last, a.t);
      }
      return last;
    };
    const deadline = this.opts.ttl + 10_000;
    if (
      !(await this.#until(
        () => takenAt() !== undefined && balanced(this.workers, this.opts.partitions),
        deadline,
      ))
    ) {
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
    const w = new DemoWorker(
      id,
      this.opts.settings,
      this.#intervals,
      this.#acquisitions,
      (x) => this.screen.changed(x),
      (x, job) => this.ledger.record(x.id, x.pid, job),
    );
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
    // In-process workers cannot be killed: give them another 5 s, then leave them to the process exit.
    await Promise.race([all, new Promise((r) => setTimeout(r, 5_000).unref())]);
  }
}
