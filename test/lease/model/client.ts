/**
 * A model client that follows the protocol around the real `plan()`:
 * - main lane, one step at a time: every heartbeat one statement renews my row if still live (or
 *   registers it) and reads a snapshot; on success the deadline becomes send time + ttl − margin; then
 *   plan(): drains start, orphans are released, dead members' rows are deleted (conditionally), claims
 *   are compare-and-set one by one; a confirmed claim joins `values()` only if the deadline has not passed;
 * - drain lanes, concurrent with the main lane: the partition left `values()` at once, the revoke step
 *   takes `drainMs`, then it is released (conditional on owner = me and its epoch) while renewals go on;
 * - self-fence: a timer at the deadline drops everything held (revoke runs with reason `lost`; no
 *   release), so does a renewal that finds the deadline passed or my row gone; `values()` itself never
 *   shows anything past the deadline.
 *
 * Faults: a crashed client never acts again (its statements in flight still land); a paused client acts
 * on nothing until it resumes, then handles what queued up in order (stale snapshots included);
 * statements can be delayed (client waits), time out (client gives up, statement lands later), get
 * lost before or after landing, or fail at once.
 */
import { plan, type Snapshot } from '../../../src/lease/assign.js';
import type { Sim } from './sim.js';
import type { SimStore } from './store.js';

export interface ClientRules {
  ttl: number;
  heartbeat: number;
  /** max(100, ttl / 10). */
  margin: number;
  /** The client gives up on a statement after this long; the statement may still land later. */
  statementTimeout: number;
  /** Mutations: each `false` breaks one rule of the protocol. */
  checkDeadlineOnClaim: boolean;
  /** A successful renewal fences first if the deadline already passed (the timer may not have run). */
  fenceBeforeExtend: boolean;
  /** A renewal that finds my row expired or gone fences at once. */
  fenceOnRenewalFailure: boolean;
  deadlineFromSend: boolean;
  selfFence: boolean;
  drainBeforeRelease: boolean;
}

export type StatementKind = 'register' | 'renew' | 'release' | 'delete' | 'claim' | 'leave';

/** A fault for the next statement of this client (of kind `on`, if given). */
export interface FaultRule {
  fault: Fault;
  on?: StatementKind | undefined;
}

export type Fault =
  | { kind: 'delay'; land: number; reply: number }
  | { kind: 'drop' }
  | { kind: 'lostReply' }
  | { kind: 'error' };

type Failure = { failed: true };
const FAILED: Failure = { failed: true };

interface InFlight {
  landAt: number;
  replyAt: number;
}

export class ModelClient {
  state: 'running' | 'closing' | 'closed' | 'crashed' = 'running';
  registered = false;
  /** partition → epoch: what `values()` shows while the deadline has not passed. */
  readonly held = new Map<number, number>();
  /** partition → epoch: left `values()`, revoke step or release not finished. */
  readonly draining = new Map<number, number>();
  /** partition → epoch: left `values()` for a rebalance or close; revoke step running, release not sent. */
  readonly revoking = new Map<number, number>();
  deadline = -Infinity;
  pausedUntil = 0;
  readonly faults: FaultRule[] = [];
  readonly inFlight = new Set<InFlight>();
  #busy = false;
  #beatStartedAt = 0;

  constructor(
    readonly id: string,
    private readonly sim: Sim,
    private readonly store: SimStore,
    private readonly rules: ClientRules,
    readonly drainMs: number,
  ) {
    this.#later(sim.now, () => this.#beat());
  }

  /** What the lease's `values()` returns right now. */
  values(): number[] {
    if (this.state === 'crashed' || this.state === 'closed') return [];
    if (this.rules.selfFence && this.sim.now >= this.deadline) return [];
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  get paused(): boolean {
    return this.sim.now < this.pausedUntil;
  }

  crash(): void {
    this.state = 'crashed';
  }

  /** `client.close()`; a paused process cannot call it, so it is ignored then. */
  close(): void {
    if (this.state !== 'running' || this.paused) return;
    this.#fenceIfLate();
    this.state = 'closing';
    for (const p of [...this.held.keys()]) this.#startDrain(p, false);
  }

  /** Stops acting for `ms`; statements in flight land `late` ms later than they would have. */
  pause(ms: number, late: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.sim.now + ms);
    for (const s of this.inFlight) {
      if (s.landAt > this.sim.now) s.landAt += late;
      if (s.replyAt > this.sim.now) s.replyAt += late;
    }
  }

  /** Schedules a step of this client: dropped once it crashed or closed, deferred while paused. */
  #later(at: number, fn: () => void): void {
    this.sim.at(at, () => {
      if (this.state === 'crashed' || this.state === 'closed') return;
      if (this.paused) return this.#later(this.pausedUntil, fn);
      fn();
    });
  }

  #fenceIfLate(): void {
    if (!this.rules.selfFence || this.sim.now < this.deadline) return;
    this.#fence();
  }

  /** Self-fence: everything held leaves at once; the revoke step runs with reason `lost`. */
  #fence(): void {
    if (!this.rules.selfFence) return;
    for (const p of [...this.held.keys()]) this.#startDrain(p, true);
  }

  /** A renewal sent at `sentAt` succeeded: fence first if the deadline already passed, then move it. */
  #renewed(sentAt: number): void {
    if (this.rules.fenceBeforeExtend) this.#fenceIfLate();
    const from = this.rules.deadlineFromSend ? sentAt : this.sim.now;
    this.deadline = Math.max(this.deadline, from + this.rules.ttl - this.rules.margin);
    // The fence timer (a paused client runs it late, in order with everything else).
    this.#later(Math.max(this.sim.now, this.deadline), () => this.#fenceIfLate());
  }

  /** Sends one statement; `run` applies when it lands, `onReply` gets its result or a failure. */
  #exec<R>(kind: StatementKind, run: (now: number) => R, onReply: (r: R | Failure) => void): void {
    const now = this.sim.now;
    const i = this.faults.findIndex((f) => f.on === undefined || f.on === kind);
    const fault = i < 0 ? undefined : this.faults.splice(i, 1)[0]!.fault;
    const landAt = fault?.kind === 'delay' ? now + fault.land : now + 1;
    const replyAt = fault?.kind === 'delay' ? landAt + fault.reply : landAt + 1;
    const timeoutAt = now + this.rules.statementTimeout;
    const s: InFlight = { landAt, replyAt };
    let result: R | Failure = FAILED;
    let answered = false;
    const answer = (r: R | Failure) => {
      if (answered) return;
      answered = true;
      this.#later(this.sim.now, () => onReply(r));
    };
    if (fault?.kind === 'error') return answer(FAILED);
    const land = () => {
      if (this.sim.now < s.landAt) return this.sim.at(s.landAt, land); // pushed back by a pause
      result = run(this.sim.now);
      if (fault?.kind === 'lostReply') return void this.inFlight.delete(s);
      const reply = () => {
        if (this.sim.now < s.replyAt) return this.sim.at(s.replyAt, reply);
        this.inFlight.delete(s);
        answer(result);
      };
      this.sim.at(Math.max(this.sim.now, s.replyAt), reply);
    };
    if (fault?.kind !== 'drop') {
      this.inFlight.add(s);
      this.sim.at(landAt, land);
    }
    // The client gives up at its timeout: what lands later is ignored.
    this.sim.at(timeoutAt, () => answer(FAILED));
  }

  #beat(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#beatStartedAt = this.sim.now;
    const sentAt = this.sim.now;
    if (this.state === 'closing' && this.draining.size === 0) {
      this.#exec(
        'leave',
        () => this.store.leave(this.id),
        () => {
          this.state = 'closed';
        },
      );
      return;
    }
    const registering = !this.registered;
    this.#exec(
      registering ? 'register' : 'renew',
      (now) => {
        if (registering) this.store.register(this.id, now);
        else if (!this.store.renew(this.id, now)) return undefined;
        return this.store.snapshot(now);
      },
      (r) => {
        if (isFailure(r)) return this.#endBeat(undefined);
        if (r === undefined) {
          // My row expired or is gone: stop trusting now, register again at once.
          this.registered = false;
          if (this.rules.fenceOnRenewalFailure) this.#fence();
          return this.#endBeat(undefined, true);
        }
        this.registered = true;
        this.#renewed(sentAt);
        if (this.state === 'closing') return this.#endBeat(undefined);
        this.#act(r);
      },
    );
  }

  #act(snapshot: Snapshot): void {
    const out = plan(snapshot, this.id, {
      held: new Set(this.held.keys()),
      draining: new Set(this.draining.keys()),
    });
    for (const p of out.drain) this.#startDrain(p, false);
    const rows = new Map(snapshot.partitions.map((r) => [r.partition, r]));
    const live = new Set(snapshot.members.filter((m) => m.expiresAt > snapshot.now).map((m) => m.id));
    const steps: ((next: () => void) => void)[] = [];
    for (const p of out.release) {
      const epoch = rows.get(p)!.epoch;
      steps.push((next) =>
        this.#exec(
          'release',
          () => this.store.release(this.id, p, epoch),
          () => next(),
        ),
      );
    }
    const dead = [
      ...new Set(
        out.claim
          .map((c) => rows.get(c.partition)?.owner)
          .filter((o): o is string => o != null && o !== this.id && !live.has(o)),
      ),
    ];
    if (dead.length > 0)
      steps.push((next) =>
        this.#exec(
          'delete',
          (now) => this.store.deleteExpired(dead, now),
          () => next(),
        ),
      );
    for (const c of out.claim) {
      steps.push((next) =>
        this.#exec(
          'claim',
          () => this.store.claim(this.id, c.partition, c.epoch),
          (epoch) => {
            if (!isFailure(epoch) && epoch !== undefined && this.state === 'running') {
              if (!this.rules.checkDeadlineOnClaim || this.sim.now < this.deadline)
                this.held.set(c.partition, epoch);
            }
            next();
          },
        ),
      );
    }
    const run = (i: number): void => {
      const step = steps[i];
      if (step === undefined) return this.#endBeat(out.wakeAt);
      step(() => run(i + 1));
    };
    run(0);
  }

  #endBeat(wakeAt: number | undefined, now = false): void {
    this.#busy = false;
    let next = now ? this.sim.now : this.#beatStartedAt + this.rules.heartbeat;
    if (wakeAt !== undefined) next = Math.min(next, wakeAt);
    this.#later(Math.max(this.sim.now, next), () => this.#beat());
  }

  /** Leaves `values()` at once; the revoke step takes `drainMs`; then the release (unless lost). */
  #startDrain(p: number, lost: boolean): void {
    const epoch = this.held.get(p)!;
    this.held.delete(p);
    if (!this.rules.drainBeforeRelease && !lost) {
      // Mutation: released before the revoke step, while still shown in values().
      this.held.set(p, epoch);
      this.#exec(
        'release',
        () => this.store.release(this.id, p, epoch),
        () => {
          this.sim.at(this.sim.now + this.drainMs, () => this.held.delete(p));
        },
      );
      return;
    }
    this.draining.set(p, epoch);
    if (!lost) this.revoking.set(p, epoch);
    this.#later(this.sim.now + this.drainMs, () => {
      if (lost) return void this.draining.delete(p);
      this.revoking.delete(p);
      this.#exec(
        'release',
        () => this.store.release(this.id, p, epoch),
        () => void this.draining.delete(p),
      );
    });
  }
}

function isFailure(r: unknown): r is Failure {
  return r === FAILED;
}
