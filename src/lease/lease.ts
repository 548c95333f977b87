/**
 * One lease as seen by one client: the partitions it holds (with their epochs), the ones draining,
 * and the revoke steps to await before a release. The client's tick feeds it snapshots; all its
 * decisions come from the pure `plan()`.
 *
 * Invariants:
 * - a partition is in `#held` only after the store confirmed a claim, and only while the client's
 *   local deadline has not passed (`values()` checks the deadline on every call);
 * - a partition is in at most one of `#held` and `#draining`;
 * - a partition leaves `#draining` only after its revoke steps settled and (unless lost) its release ran.
 */
import { DbleasesError } from '../errors.js';
import { plan } from './assign.js';
import { TypedEmitter } from './emitter.js';
import type { LeaseSnapshotRow, Store } from './store.js';
import { withTimeout } from './timeout.js';
import type { LeaseEvents, LeaseHandle, Logger, RevokeHandler, RevokeReason } from './types.js';

/** What a lease needs from its client. */
export interface LeaseContext {
  readonly clientId: string;
  readonly instance: string;
  readonly store: Store;
  readonly drainTimeout: number;
  /** Bound on each database step of a close, in ms. */
  readonly closeTimeout: number;
  readonly logger: Logger;
  /** The local monotonic deadline (performance.now() ms) of the current ownership. */
  deadline(): number;
  closing(): boolean;
  requestTick(): void;
  /**
   * Forgets the lease and deletes this client's membership, releasing whatever is still named mine
   * there. Never rejects: a leave that does not land is retried by the client.
   */
  leave(lease: Lease): Promise<void>;
  reportError(error: Error): void;
}

export class Lease extends TypedEmitter<LeaseEvents> implements LeaseHandle {
  readonly name: string;
  readonly size: number;
  readonly #ctx: LeaseContext;
  /** partition → epoch, confirmed by the store. */
  readonly #held = new Map<number, number>();
  #values: number[] = [];
  readonly #draining = new Set<number>();
  readonly #drains = new Set<Promise<void>>();
  /** The signals of running drains: aborted at once when the client fences itself. */
  readonly #drainControllers = new Set<AbortController>();
  #closing = false;
  #closePromise: Promise<void> | undefined;
  readonly #handlers = new Set<RevokeHandler>();
  /** Self-fence moves not yet written (the database was unreachable when they happened). */
  readonly #unrecorded = new Map<number, number>();
  #joined = false;
  #failed: Error | undefined;
  readonly #ready: Promise<void>;
  #settleReady!: (error?: Error) => void;

  constructor(ctx: LeaseContext, name: string, size: number) {
    super();
    this.#ctx = ctx;
    this.name = name;
    this.size = size;
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = (error) => (error ? reject(error) : resolve());
    });
    this.#ready.catch(() => {}); // rejection is also reported through `error`
  }

  values(): number[] {
    if (this.#values.length === 0 || performance.now() >= this.#ctx.deadline()) return [];
    return this.#values.slice();
  }

  has(partition: number): boolean {
    return this.#held.has(partition) && performance.now() < this.#ctx.deadline();
  }

  epoch(partition: number): number | undefined {
    return this.has(partition) ? this.#held.get(partition) : undefined;
  }

  onRevoke(handler: RevokeHandler): () => void {
    if (typeof handler !== 'function') {
      throw new DbleasesError(
        'INVALID_ARGUMENT',
        `Expected \`handler\` to be a function, got ${typeof handler}`,
      );
    }
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closing = true;
      this.drainAll();
      await this.whenDrained();
      await this.#ctx.leave(this);
    })();
    return this.#closePromise;
  }

  get joined(): boolean {
    return this.#joined;
  }

  get failed(): Error | undefined {
    return this.#failed;
  }

  /** @internal Called by the client once the membership row exists. */
  markJoined(): void {
    if (!this.#joined) {
      this.#joined = true;
      this.#settleReady();
    }
  }

  /** @internal The membership vanished (the client re-registered): join again. */
  markUnjoined(): void {
    this.#joined = false;
  }

  /** @internal Joining failed for good (size mismatch). */
  fail(error: Error): void {
    this.#failed = error;
    this.#settleReady(error);
    this.emit('error', error);
  }

  /**
   * @internal Applies one snapshot: drains what is no longer mine, releases orphans, claims my target.
   * Resolves to the database time of the next expiry of another member, if any.
   */
  async apply(row: LeaseSnapshotRow, now: number, myExpiry: number): Promise<number | undefined> {
    const me = this.#ctx.clientId;
    if (this.#unrecorded.size > 0) {
      const epochs = new Map(this.#unrecorded);
      await this.#ctx.store.recordSelfFence(me, this.name, epochs);
      for (const p of epochs.keys()) this.#unrecorded.delete(p);
    }
    const byPartition = new Map(row.partitions.map((p) => [p.partition, p]));
    const stolen = [...this.#held].filter(
      ([p, e]) => byPartition.get(p)?.owner !== me || byPartition.get(p)?.epoch !== e,
    );
    if (stolen.length > 0) {
      // Cannot happen while every writer follows the protocol; if the rows were edited by hand, stop at once.
      this.#ctx.reportError(
        new DbleasesError(
          'LEASE_LOST',
          `Lease ${JSON.stringify(this.name)}: the store no longer names this client owner of partitions ${stolen.map(([p]) => p).join(',')}`,
        ),
      );
      this.#startDrain(
        stolen.map(([p]) => p),
        'lost',
      );
    }
    const members = row.members.map((m) =>
      m.id === me ? { ...m, expiresAt: Math.max(m.expiresAt, myExpiry) } : m,
    );
    const decision = plan({ size: row.size, now, members, partitions: row.partitions }, me, {
      held: new Set(this.#held.keys()),
      draining: this.#draining,
    });
    const closing = this.#closing || this.#ctx.closing();
    if (decision.drain.length > 0) this.#startDrain(decision.drain, closing ? 'close' : 'rebalance');
    if (decision.release.length > 0) {
      const items = decision.release.map((p) => ({ partition: p, epoch: byPartition.get(p)!.epoch }));
      await this.#ctx.store.release(me, this.name, items, 'rebalance');
    }
    if (decision.claim.length > 0 && !closing) {
      const claimed = await this.#ctx.store.claim(me, this.#ctx.instance, this.name, decision.claim);
      if (claimed.length === 0) {
        // nothing landed
      } else if (this.#closing || this.#ctx.closing()) {
        // The lease started closing while the claim was out: give the partitions back at once, or they
        // would stay named mine (unused) until the leave. Should this release fail, the leave does it.
        await this.#ctx.store.release(me, this.name, claimed, 'leave').catch((error: unknown) => {
          this.#ctx.reportError(error as Error);
        });
      } else if (performance.now() < this.#ctx.deadline()) {
        for (const { partition, epoch } of claimed) this.#held.set(partition, epoch);
        this.#changed(
          claimed.map((c) => c.partition),
          [],
        );
      }
      // A claim that lands after the deadline stays unused: the next snapshot re-claims it with a new epoch.
    }
    return decision.wakeAt;
  }

  /** @internal The deadline passed: drop everything at once; revoke steps run with reason `lost`. */
  lose(): boolean {
    // Drains already running must hurry too: their partitions are no longer safely ours either.
    for (const controller of this.#drainControllers) controller.abort();
    if (this.#held.size === 0) return false;
    this.#startDrain([...this.#held.keys()], 'lost');
    return true;
  }

  /** @internal `client.close()`: drain and release everything. */
  drainAll(): void {
    if (this.#held.size > 0) this.#startDrain([...this.#held.keys()], 'close');
  }

  /** @internal Resolves when no drain is running. */
  async whenDrained(): Promise<void> {
    while (this.#drains.size > 0) await Promise.allSettled([...this.#drains]);
  }

  #changed(added: number[], removed: number[], reason?: RevokeReason): void {
    this.#values = [...this.#held.keys()].sort((a, b) => a - b);
    this.emit('change', {
      lease: this.name,
      values: this.values(),
      added: [...added].sort((a, b) => a - b),
      removed: [...removed].sort((a, b) => a - b),
      ...(reason ? { reason } : {}),
    });
  }

  #startDrain(partitions: number[], reason: RevokeReason): void {
    const epochs = new Map<number, number>();
    for (const p of partitions) {
      epochs.set(p, this.#held.get(p)!);
      this.#held.delete(p);
      this.#draining.add(p);
    }
    this.#changed([], partitions, reason);
    const drain = this.#drain(
      partitions.sort((a, b) => a - b),
      epochs,
      reason,
    ).finally(() => {
      for (const p of partitions) this.#draining.delete(p);
      this.#drains.delete(drain);
      this.#ctx.requestTick();
    });
    this.#drains.add(drain);
  }

  async #drain(partitions: number[], epochs: Map<number, number>, reason: RevokeReason): Promise<void> {
    const controller = new AbortController();
    const timer =
      reason === 'lost' ? undefined : setTimeout(() => controller.abort(), this.#ctx.drainTimeout);
    if (reason === 'lost' || performance.now() >= this.#ctx.deadline()) controller.abort();
    this.#drainControllers.add(controller);
    const ctx = { lease: this.name, partitions, epochs, reason, signal: controller.signal };
    const results = await Promise.allSettled([...this.#handlers].map(async (handler) => handler(ctx)));
    clearTimeout(timer);
    this.#drainControllers.delete(controller);
    for (const r of results) {
      if (r.status === 'rejected') {
        this.#ctx.reportError(
          new DbleasesError(
            'REVOKE_FAILED',
            `A revoke step of lease ${JSON.stringify(this.name)} failed: ${String(r.reason)}`,
            { cause: r.reason },
          ),
        );
      }
    }
    // Lost, or the client fenced itself while the drain ran: the partitions are no longer ours to
    // release (their epochs may already be someone else's); the move is recorded when the database answers.
    if (reason === 'lost' || performance.now() >= this.#ctx.deadline()) {
      for (const [p, e] of epochs) this.#unrecorded.set(p, e);
      return;
    }
    try {
      const items = partitions.map((p) => ({ partition: p, epoch: epochs.get(p)! }));
      const released = this.#ctx.store.release(
        this.#ctx.clientId,
        this.name,
        items,
        reason === 'close' ? 'leave' : 'rebalance',
      );
      await (reason === 'close'
        ? withTimeout(
            released,
            this.#ctx.closeTimeout,
            () =>
              new DbleasesError(
                'DATABASE_UNREACHABLE',
                `Lease ${JSON.stringify(this.name)}: the release of partitions ${partitions.join(',')} got no answer within closeTimeout (${this.#ctx.closeTimeout} ms)`,
              ),
          )
        : released);
    } catch (error) {
      // Not released: the partitions stay named mine. A rebalance: the next snapshot releases or
      // re-claims them. A close: the leave releases them, or they go free with the ttl.
      this.#ctx.reportError(error as Error);
    }
  }
}
