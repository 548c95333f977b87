/**
 * The invariants, checked after every event. Each throws an `Error` that says what broke, where and
 * when, so a fast-check counterexample reads as a story.
 */
import type { ModelClient } from './client.js';
import type { Sim } from './sim.js';
import type { PartitionState, SimStore } from './store.js';

export class Checker {
  #prev: PartitionState[];
  /** `partition:epoch` → the one owner that fencing token ever named. */
  readonly #tokens = new Map<string, string>();

  constructor(
    private readonly sim: Sim,
    private readonly store: SimStore,
    private readonly clients: readonly ModelClient[],
  ) {
    this.#prev = store.rows.map((r) => ({ ...r }));
  }

  #fail(message: string): never {
    throw new Error(`t=${this.sim.now}: ${message}`);
  }

  /** Safety, after every event. */
  safety(): void {
    const { rows, members } = this.store;
    // 1. The store: one owner per partition and epoch. Epochs never go back, and every change of owner
    //    (to a client) comes with a new epoch, so a fencing token never names two owners.
    rows.forEach((row, p) => {
      const prev = this.#prev[p]!;
      if (row.epoch < prev.epoch)
        this.#fail(`partition ${p}: epoch went back from ${prev.epoch} to ${row.epoch}`);
      if (row.owner !== null && row.owner !== prev.owner && row.epoch === prev.epoch) {
        this.#fail(`partition ${p}: owner ${prev.owner} → ${row.owner} without a new epoch (${row.epoch})`);
      }
      if (row.owner !== null) {
        const key = `${p}:${row.epoch}`;
        const named = this.#tokens.get(key);
        if (named !== undefined && named !== row.owner)
          this.#fail(`partition ${p}: epoch ${row.epoch} named both ${named} and ${row.owner}`);
        this.#tokens.set(key, row.owner);
      }
      prev.owner = row.owner;
      prev.epoch = row.epoch;
    });

    const holderOf = new Map<number, string>();
    for (const c of this.clients) {
      // 5. Drain before release: while a live owner's revoke step runs, the partition stays its own.
      if ((c.state === 'running' || c.state === 'closing') && this.sim.now < c.deadline) {
        for (const [p, epoch] of c.revoking) {
          const row = rows[p]!;
          if (row.owner !== c.id || row.epoch !== epoch) {
            this.#fail(
              `${c.id} is still revoking ${p}@${epoch} but the store says ${row.owner}@${row.epoch}`,
            );
          }
        }
      }
      const values = c.values();
      if (values.length === 0) continue;
      const expiresAt = members.get(c.id);
      for (const p of values) {
        // 2. Never two clients whose values() both contain a partition.
        const other = holderOf.get(p);
        if (other !== undefined) this.#fail(`partition ${p} is in the values() of both ${other} and ${c.id}`);
        holderOf.set(p, c.id);
        // 3. A holder is the store's owner, at the epoch it holds (so its fenced writes are accepted).
        const row = rows[p]!;
        if (row.owner !== c.id || row.epoch !== c.held.get(p)) {
          this.#fail(`${c.id} holds ${p}@${c.held.get(p)} but the store says ${row.owner}@${row.epoch}`);
        }
      }
      // 4. Its deadline ends before anyone else may take its partitions: its row lives until after it.
      if (expiresAt === undefined) this.#fail(`${c.id} holds ${values.join(',')} but its client row is gone`);
      if (!(c.deadline < expiresAt))
        this.#fail(`${c.id} holds ${values.join(',')} with deadline ${c.deadline} ≥ row expiry ${expiresAt}`);
    }
  }

  /** After faults stopped and time ran: everything owned, ±1, nobody stuck closing. */
  quiescent(): Map<number, string> {
    for (const c of this.clients) {
      if (c.state === 'closing')
        this.#fail(`${c.id} is still closing (draining ${[...c.draining.keys()].join(',')})`);
    }
    const running = this.clients.filter((c) => c.state === 'running');
    const holder = new Map<number, string>();
    for (const c of running) for (const p of c.values()) holder.set(p, c.id);
    if (running.length === 0) return holder;
    const missing = [...Array(this.store.size).keys()].filter((p) => !holder.has(p));
    if (missing.length > 0) {
      const why = missing.map((p) => `${p}→${this.store.rows[p]!.owner}`).join(' ');
      this.#fail(`partitions not held by any running client: ${why}`);
    }
    const counts = running.map((c) => c.values().length);
    if (Math.max(...counts) - Math.min(...counts) > 1) {
      this.#fail(`unbalanced: ${running.map((c) => `${c.id}=${c.values().length}`).join(' ')}`);
    }
    return holder;
  }
}
