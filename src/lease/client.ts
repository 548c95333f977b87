/**
 * The lease client: one heartbeat loop per process that renews its row, reads the snapshot of its
 * leases, and lets each lease act on it. Ticks are serialized; heartbeats, NOTIFY wake-ups, expiry
 * wake-ups and finished drains all request one.
 *
 * Invariants:
 * - `#deadline` = (local time a successful renewal was sent) + ttl − margin; the renewal set the database
 *   expiry to (database time it ran) + ttl, which is later, so the client stops trusting its partitions
 *   before anyone else may take them;
 * - a renewal only extends a row that is still live: once expired, the row can only be deleted or taken
 *   over by a new registration, and the partitions held under it were dropped locally (self-fence).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';

import { DbleasesError } from '../errors.js';
import { type ResolvedClientOptions, validateLeaseName, validateLeaseSize } from '../options.js';
import type { DbPort } from './db.js';
import { TypedEmitter } from './emitter.js';
import { Lease, type LeaseContext } from './lease.js';
import { Store } from './store.js';
import { withTimeout } from './timeout.js';
import type { ClientEvents, ClientHandle } from './types.js';

/** Extra wait after another member's expiry before acting on it (database round trip slack). */
const WAKE_SLACK_MS = 15;

export class LeaseClient extends TypedEmitter<ClientEvents> implements ClientHandle {
  readonly id: string;
  readonly instance = randomUUID();
  readonly #opts: ResolvedClientOptions;
  readonly #db: DbPort;
  readonly #store: Store;
  readonly #leases = new Map<string, Lease>();
  readonly #ctx: LeaseContext;
  #deadline = -Infinity;
  #registered = false;
  #lastRenewal = -Infinity;
  #ticking: Promise<void> | undefined;
  #again = false;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #fenceTimer: ReturnType<typeof setTimeout> | undefined;
  #listenTimer: ReturnType<typeof setTimeout> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  /** Leases closed while their leave did not land (the database did not answer): retried every tick. */
  readonly #leaving = new Set<string>();
  #closing = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;

  constructor(db: DbPort, id: string, opts: ResolvedClientOptions) {
    super();
    this.id = id;
    this.#db = db;
    this.#opts = opts;
    this.#store = new Store(db, opts.schema, opts.tablePrefix, opts.ttl);
    this.#ctx = {
      clientId: id,
      instance: this.instance,
      store: this.#store,
      drainTimeout: opts.drainTimeout,
      closeTimeout: opts.closeTimeout,
      logger: opts.logger,
      deadline: () => this.#deadline,
      closing: () => this.#closing,
      requestTick: () => this.#requestTick(),
      reportError: (error) => this.#reportError(error),
      leave: (lease) => this.#leaveLease(lease),
    };
  }

  /** The resolved options (validated, defaults filled in). */
  get options(): Readonly<ResolvedClientOptions> {
    return this.#opts;
  }

  /** The leases opened on this client, in the order they were opened. */
  leases(): Lease[] {
    return [...this.#leases.values()];
  }

  /** Milliseconds since the last successful renewal started (Infinity before the first). */
  lastRenewalAgeMs(): number {
    return performance.now() - this.#lastRenewal;
  }

  /** @internal Registers (a live holder of the same id is an error), starts LISTEN and the heartbeat. */
  async start(): Promise<void> {
    const sentAt = performance.now();
    const holder = await withTimeout(
      this.#store.register(this.id, this.instance, this.#opts.ttl, this.#info()),
      this.#opts.migrationTimeout,
      () =>
        new DbleasesError(
          'DATABASE_UNREACHABLE',
          `Registering client ${JSON.stringify(this.id)} took longer than migrationTimeout (${this.#opts.migrationTimeout} ms)`,
        ),
    );
    if (holder) throw this.#duplicateError(holder.expiresInMs);
    this.#registered = true;
    this.#renewed(sentAt);
    if (this.#opts.notify) await this.#listen().catch((error) => this.#reportError(error as Error));
    this.#heartbeatTimer = setInterval(() => this.#requestTick(), this.#opts.heartbeat);
    this.#heartbeatTimer.unref?.();
    this.#opts.logger.info('dbleases: client started', {
      clientId: this.id,
      ttl: this.#opts.ttl,
      heartbeat: this.#opts.heartbeat,
    });
  }

  lease(name: string, size: number): Lease {
    validateLeaseName(name);
    validateLeaseSize(size);
    if (this.#closing)
      throw new DbleasesError(
        'CLIENT_CLOSED',
        `Client ${JSON.stringify(this.id)} is closed: create a new client to lease ${JSON.stringify(name)}`,
      );
    const existing = this.#leases.get(name);
    if (existing) {
      if (existing.size !== size) {
        throw new DbleasesError(
          'LEASE_SIZE_MISMATCH',
          `Lease ${JSON.stringify(name)} was already opened on this client with size ${existing.size}, got size ${size}`,
        );
      }
      return existing;
    }
    this.#leaving.delete(name); // joining again ends the pending leave; the new lease releases what it should not keep
    const lease = new Lease(this.#ctx, name, size);
    this.#leases.set(name, lease);
    this.#requestTick();
    return lease;
  }

  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#wakeTimer);
    const skipped: string[] = [];
    const step = async (what: string, work: () => Promise<unknown>): Promise<void> => {
      if (this.#fenced()) {
        // Fenced: the row expires on its own and nothing here is ours any more, so waiting on a
        // database that let the deadline pass only makes the close slow. Send, don't wait.
        work().catch(() => {});
        skipped.push(`${what} (sent without waiting: the client had fenced itself)`);
        return;
      }
      try {
        await withTimeout(work(), this.#opts.closeTimeout, () => this.#unanswered(what));
      } catch (error) {
        skipped.push(what);
        this.#reportError(error as Error);
      }
    };
    // Only for operators (the dashboard shows a draining client): never worth holding the drains back.
    const marked = step('marking the client closing', () => this.#store.markClosing(this.id, this.instance));
    for (const lease of this.#leases.values()) lease.drainAll();
    // The heartbeat keeps renewing while the partitions drain.
    await Promise.all([...this.#leases.values()].map((l) => l.whenDrained()));
    await marked;
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#listenTimer);
    this.#closed = true; // no new tick from here on; let the one in flight finish before leaving
    // Every statement of a tick is bounded by the ttl; the leave below is safe even while one is
    // still out: a claim that lands after it is refused, one that lands before it is undone by it.
    if (this.#ticking) await step('waiting for the heartbeat in flight', () => this.#ticking!);
    clearTimeout(this.#fenceTimer);
    await step('leaving (deleting the client row)', () =>
      this.#store.leave(this.id, this.instance, [...new Set([...this.#leases.keys(), ...this.#leaving])]),
    );
    const unlisten = this.#unlisten;
    if (unlisten) await step('stopping LISTEN', unlisten);
    this.#deadline = -Infinity;
    if (skipped.length > 0) {
      this.#reportError(
        new DbleasesError(
          'CLOSE_INCOMPLETE',
          `Client ${JSON.stringify(this.id)} closed without confirming: ${skipped.join('; ')} (closeTimeout ${this.#opts.closeTimeout} ms). ` +
            'Whatever it still holds goes free when its ttl runs out; it stopped using it, so nobody runs a partition twice.',
        ),
      );
    }
    this.#opts.logger.info('dbleases: client closed', { clientId: this.id, skipped });
  }

  /**
   * `lease.close()`, after its drains: leaves the lease (releasing whatever is still named mine there).
   * When the database does not answer within closeTimeout, the leave is retried on every tick until it
   * lands (or the client closes or expires), and `lease.close()` resolves all the same.
   */
  async #leaveLease(lease: Lease): Promise<void> {
    if (this.#leases.get(lease.name) !== lease) return;
    // While the client closes, its own leave (deleting its row) ends every membership at once.
    if (this.#closing) return;
    this.#leases.delete(lease.name);
    if (this.#fenced()) {
      // As in close(): don't wait on a database that let the deadline pass; the tick retries it.
      this.#leaving.add(lease.name);
      return;
    }
    try {
      await withTimeout(this.#store.leaveLease(this.id, lease.name), this.#opts.closeTimeout, () =>
        this.#unanswered(`leaving lease ${JSON.stringify(lease.name)}`),
      );
    } catch (error) {
      this.#leaving.add(lease.name);
      this.#reportError(
        new DbleasesError(
          'CLOSE_INCOMPLETE',
          `Lease ${JSON.stringify(lease.name)} closed without leaving it (${(error as Error).message}); the leave is retried on every heartbeat`,
          { cause: error },
        ),
      );
    }
  }

  /** The deadline passed without a renewal: every partition was dropped (self-fence). */
  #fenced(): boolean {
    return performance.now() >= this.#deadline;
  }

  #unanswered(what: string): DbleasesError {
    return new DbleasesError(
      'DATABASE_UNREACHABLE',
      `Client ${JSON.stringify(this.id)}: the database did not answer ${what} within closeTimeout (${this.#opts.closeTimeout} ms)`,
    );
  }

  #info(): Record<string, unknown> {
    return { pid: process.pid, hostname: os.hostname(), ...this.#opts.info };
  }

  #duplicateError(expiresInMs: number): DbleasesError {
    return new DbleasesError(
      'DUPLICATE_CLIENT_ID',
      `Client id ${JSON.stringify(this.id)} is held by another live process (its membership expires in ${Math.ceil(expiresInMs)} ms unless renewed): ` +
        'give every process a unique id (e.g. the pod name); a restarted process with the same id can start once the old one expired.',
    );
  }

  #reportError(error: Error): void {
    this.#opts.logger.warn(`dbleases: ${error.message}`, { clientId: this.id });
    this.emit('error', error);
  }

  #requestTick(): void {
    if (this.#closed) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = (async () => {
      do {
        this.#again = false;
        try {
          await this.#tick();
        } catch (error) {
          this.#reportError(error as Error);
        }
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#ticking = undefined;
    });
  }

  async #tick(): Promise<void> {
    const opts = this.#opts;
    if (!this.#registered) {
      const sentAt = performance.now();
      const holder = await withTimeout(
        this.#store.register(this.id, this.instance, opts.ttl, this.#info()),
        opts.ttl,
        () =>
          new DbleasesError(
            'DATABASE_UNREACHABLE',
            `Registering client ${JSON.stringify(this.id)} again got no answer within the ttl (${opts.ttl} ms)`,
          ),
      );
      if (holder) throw this.#duplicateError(holder.expiresInMs);
      this.#registered = true;
      for (const lease of this.#leases.values()) lease.markUnjoined();
      this.#renewed(sentAt);
    }
    for (const lease of this.#leases.values()) {
      if (lease.joined || lease.failed) continue;
      try {
        await this.#store.joinLease(this.id, lease.name, lease.size);
        lease.markJoined();
      } catch (error) {
        if (error instanceof DbleasesError && error.code === 'LEASE_SIZE_MISMATCH') {
          lease.fail(error);
          this.#reportError(error);
        } else throw error;
      }
    }
    for (const name of this.#leaving) {
      try {
        await this.#store.leaveLease(this.id, name);
        this.#leaving.delete(name);
      } catch {
        break; // reported when it first failed; the heartbeat below matters more: try again next tick
      }
    }
    const joined = [...this.#leases.values()].filter((l) => l.joined);
    const sentAt = performance.now();
    let hb;
    try {
      hb = await withTimeout(
        this.#store.heartbeat(
          this.id,
          this.instance,
          opts.ttl,
          joined.map((l) => l.name),
        ),
        opts.ttl,
        () =>
          new DbleasesError(
            'DATABASE_UNREACHABLE',
            `Heartbeat of client ${JSON.stringify(this.id)} got no answer within the ttl (${opts.ttl} ms)`,
          ),
      );
    } catch (error) {
      this.emit('heartbeat', { ok: false, latencyMs: performance.now() - sentAt });
      throw error;
    }
    this.emit('heartbeat', { ok: true, latencyMs: performance.now() - sentAt });
    if (!hb.renewed) {
      // Expired (we were paused or cut off past the ttl) or the id was taken over: stop trusting now.
      this.#registered = false;
      this.#fence();
      if (hb.me && hb.me.instance !== this.instance && hb.me.expiresAt > hb.now) {
        throw this.#duplicateError(hb.me.expiresAt - hb.now);
      }
      this.#again = true; // re-register at once
      return;
    }
    this.#renewed(sentAt);
    const myExpiry = hb.now + opts.ttl;
    let wakeAt: number | undefined;
    for (const lease of joined) {
      const row = hb.leases.find((l) => l.name === lease.name);
      if (!row || !row.members.some((m) => m.id === this.id)) {
        // The lease or my membership vanished (edited by hand): others may claim what I hold, since a
        // non-member owner counts as gone. Stop using it at once, then join again.
        lease.lose();
        lease.markUnjoined();
        this.#again = true;
        continue;
      }
      const at = await lease.apply(row, hb.now, myExpiry);
      if (at !== undefined && (wakeAt === undefined || at < wakeAt)) wakeAt = at;
    }
    clearTimeout(this.#wakeTimer);
    if (wakeAt !== undefined && !this.#closing) {
      this.#wakeTimer = setTimeout(() => this.#requestTick(), Math.max(0, wakeAt - hb.now) + WAKE_SLACK_MS);
      this.#wakeTimer.unref?.();
    }
  }

  /** A renewal sent at `sentAt` succeeded: move the deadline, re-arm the fence timer. */
  #renewed(sentAt: number): void {
    if (performance.now() >= this.#deadline) this.#fence(); // the timer may not have run yet
    this.#lastRenewal = Math.max(this.#lastRenewal, sentAt);
    this.#deadline = Math.max(this.#deadline, sentAt + this.#opts.ttl - this.#opts.margin);
    this.#armFence();
  }

  /**
   * Fences at the deadline. Node's timers may fire a fraction of a millisecond before
   * `performance.now()` reaches the deadline: an early wake-up re-arms instead of fencing, never
   * gives up (without this, a client cut off from the database stopped its jobs only on its next
   * successful renewal, i.e. never).
   */
  #armFence(): void {
    clearTimeout(this.#fenceTimer);
    const left = this.#deadline - performance.now();
    if (left <= 0) {
      this.#fence();
      return;
    }
    this.#fenceTimer = setTimeout(() => this.#armFence(), Math.ceil(left));
    this.#fenceTimer.unref?.();
  }

  /** Self-fence: every lease drops its partitions with reason `lost`. */
  #fence(): void {
    const lost = [...this.#leases.values()].filter((l) => l.lose()).map((l) => l.name);
    if (lost.length > 0) {
      this.#opts.logger.warn(
        'dbleases: no renewal before the deadline: dropped every partition (self-fence)',
        { clientId: this.id, leases: lost },
      );
      this.emit('lost', { leases: lost });
    }
  }

  async #listen(): Promise<void> {
    if (this.#closed) return;
    this.#unlisten = await this.#db.listen(
      this.#store.channel,
      () => this.#requestTick(),
      (error) => {
        this.#unlisten = undefined;
        this.#reportError(
          new DbleasesError('DATABASE_UNREACHABLE', `LISTEN connection lost: ${error.message}`, {
            cause: error,
          }),
        );
        this.#scheduleListen();
      },
    );
    this.#requestTick(); // notifications may have been missed while not listening
  }

  #scheduleListen(): void {
    if (this.#closed) return;
    clearTimeout(this.#listenTimer);
    this.#listenTimer = setTimeout(() => {
      this.#listen().catch(() => this.#scheduleListen());
    }, this.#opts.heartbeat);
    this.#listenTimer.unref?.();
  }
}
