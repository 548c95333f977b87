/**
 * The simulated database: one row per client (`expiresAt`, database time) and one per partition
 * (`owner`, `epoch`). Each method is one statement and applies atomically when it lands, with exactly
 * the conditional-write semantics of the protocol. `StoreRules` switches a condition off to show that a
 * check catches the broken variant (mutation tests); the protocol is `PROTOCOL_STORE`.
 */
import type { Snapshot } from '../../../src/lease/assign.js';

export interface StoreRules {
  /** Renewal only if the row is still live (`expires_at > now`). */
  renewChecksLive: boolean;
  /** Claim only if the partition's epoch is still the one seen. */
  claimChecksEpoch: boolean;
  /** Claim only if the owner is null, me, or a client whose row is absent. */
  claimChecksOwner: boolean;
  /** A claim sets epoch + 1. */
  claimBumpsEpoch: boolean;
  /** The delete of a dead member's row is conditional on `expires_at <= now`. */
  deleteChecksExpiry: boolean;
  /**
   * Release only if the epoch is still the one the releaser held. The protocol as first described
   * released on `owner = me` alone; a late release then frees a partition its owner has re-claimed since.
   */
  releaseChecksEpoch: boolean;
}

export const PROTOCOL_STORE: StoreRules = {
  renewChecksLive: true,
  claimChecksEpoch: true,
  claimChecksOwner: true,
  claimBumpsEpoch: true,
  deleteChecksExpiry: true,
  releaseChecksEpoch: true,
};

export interface PartitionState {
  owner: string | null;
  epoch: number;
}

export class SimStore {
  /** client id → expiresAt (database time). */
  readonly members = new Map<string, number>();
  readonly rows: PartitionState[];

  constructor(
    readonly size: number,
    private readonly ttl: number,
    private readonly rules: StoreRules,
  ) {
    this.rows = Array.from({ length: size }, () => ({ owner: null, epoch: 0 }));
  }

  snapshot(now: number): Snapshot {
    return {
      size: this.size,
      now,
      members: [...this.members].map(([id, expiresAt]) => ({ id, expiresAt })),
      partitions: this.rows.map((r, partition) => ({ partition, owner: r.owner, epoch: r.epoch })),
    };
  }

  /** Renews my row if it is still live. */
  renew(id: string, now: number): boolean {
    const expiresAt = this.members.get(id);
    if (expiresAt === undefined || (this.rules.renewChecksLive && expiresAt <= now)) return false;
    this.members.set(id, now + this.ttl);
    return true;
  }

  /** Inserts my row, or revives it (ids are unique per process here, so a present row is mine). */
  register(id: string, now: number): void {
    this.members.set(id, Math.max(this.members.get(id) ?? 0, now + this.ttl));
  }

  /** Deletes the rows of members seen dead, each only if it is still expired. */
  deleteExpired(ids: readonly string[], now: number): void {
    for (const id of ids) {
      const expiresAt = this.members.get(id);
      if (expiresAt !== undefined && (!this.rules.deleteChecksExpiry || expiresAt <= now))
        this.members.delete(id);
    }
  }

  /** Compare-and-set; returns the new epoch on success. */
  claim(id: string, partition: number, epoch: number): number | undefined {
    const row = this.rows[partition]!;
    if (this.rules.claimChecksEpoch && row.epoch !== epoch) return undefined;
    if (this.rules.claimChecksOwner && row.owner !== null && row.owner !== id && this.members.has(row.owner))
      return undefined;
    row.owner = id;
    if (this.rules.claimBumpsEpoch) row.epoch++;
    return row.epoch;
  }

  release(id: string, partition: number, epoch: number): boolean {
    const row = this.rows[partition]!;
    if (row.owner !== id || (this.rules.releaseChecksEpoch && row.epoch !== epoch)) return false;
    row.owner = null;
    return true;
  }

  /** A graceful leave deletes my row. */
  leave(id: string): void {
    this.members.delete(id);
  }
}
