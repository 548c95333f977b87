/**
 * The assignment decision: a pure function from (snapshot of the store, me, what I hold locally) to
 * actions. Every client computes the same target from the same snapshot; the database's conditional
 * writes settle the races between slightly different snapshots.
 *
 * Target, for the live members sorted by id (C of them, N partitions):
 * - quotas: ⌊N/C⌋ each, and the N mod C extra partitions go first to the members holding more than
 *   ⌊N/C⌋ now, then by id, so nobody gives up a partition it may keep: moves are minimal, and the
 *   choice does not flip while over-quota members shed their excess or newcomers fill up;
 * - each member keeps its lowest-numbered partitions up to its quota (sticky);
 * - the rest (free partitions, those of dead members, and the excess of over-quota members) fill the
 *   deficits of the members in id order, lowest partitions first.
 */

export interface MemberRow {
  id: string;
  /** Database time (ms since the epoch) when the member's client row expires. */
  expiresAt: number;
}

export interface PartitionRow {
  partition: number;
  owner: string | null;
  epoch: number;
}

export interface Snapshot {
  size: number;
  /** Database time (ms since the epoch) at which the snapshot was read. */
  now: number;
  members: readonly MemberRow[];
  /** Every partition row of the lease (0..size-1); a missing row counts as free with epoch 0. */
  partitions: readonly PartitionRow[];
}

export interface LocalState {
  /** Partitions in this client's `values()`. */
  held: ReadonlySet<number>;
  /** Partitions leaving this client whose revoke step has not finished. */
  draining: ReadonlySet<number>;
}

export interface Plan {
  /** The target assignment of every live member, partitions sorted. */
  target: Map<string, number[]>;
  /** Partitions to claim now (free, owned by a dead member, or named mine but not held), with the epoch seen. */
  claim: { partition: number; epoch: number }[];
  /** Held partitions outside my target: drain, then release. */
  drain: number[];
  /** Partitions the store names mine that I neither hold nor drain nor should keep: release at once. */
  release: number[];
  /** Earliest database time at which another live member expires (act then), if any. */
  wakeAt: number | undefined;
}

/** Whether a member row is live at the snapshot's database time. */
export const isLive = (m: MemberRow, now: number): boolean => m.expiresAt > now;

/** Computes the target of every live member. Deterministic: same snapshot → same target. */
export function computeTarget(snapshot: Snapshot): Map<string, number[]> {
  const { size, now } = snapshot;
  const live = [...new Set(snapshot.members.filter((m) => isLive(m, now)).map((m) => m.id))].sort(compareIds);
  const target = new Map<string, number[]>(live.map((id) => [id, []]));
  if (live.length === 0) return target;

  const owned = new Map<string, number[]>(live.map((id) => [id, []]));
  for (const row of snapshot.partitions) {
    if (row.partition < 0 || row.partition >= size || row.owner === null) continue;
    owned.get(row.owner)?.push(row.partition);
  }
  for (const list of owned.values()) list.sort((a, b) => a - b);

  const base = Math.floor(size / live.length);
  const extra = size % live.length;
  // The extra partitions go first to members holding more than base: only for them does an extra
  // partition save a move (they would otherwise give one up), and any of them is as cheap as another.
  // Everyone else is ranked alike (ties by id): ranking them by holdings would move the extras while
  // newcomers fill up (one claims, overtakes another, takes its extra), costing one more round.
  const rank = (id: string) => (owned.get(id)!.length > base ? 1 : 0);
  const byLoad = [...live].sort((a, b) => rank(b) - rank(a) || compareIds(a, b));
  const quota = new Map<string, number>(byLoad.map((id, i) => [id, base + (i < extra ? 1 : 0)]));

  const kept = new Set<number>();
  for (const id of live) {
    const keep = owned.get(id)!.slice(0, quota.get(id));
    target.set(id, keep);
    for (const p of keep) kept.add(p);
  }
  const pool: number[] = [];
  for (let p = 0; p < size; p++) if (!kept.has(p)) pool.push(p);
  let next = 0;
  for (const id of live) {
    const mine = target.get(id)!;
    const want = quota.get(id)! - mine.length;
    for (let i = 0; i < want && next < pool.length; i++) mine.push(pool[next++]!);
    mine.sort((a, b) => a - b);
  }
  return target;
}

/** The actions for client `me`, given the snapshot and what it holds locally. */
export function plan(snapshot: Snapshot, me: string, local: LocalState): Plan {
  const target = computeTarget(snapshot);
  const mine = new Set(target.get(me) ?? []);
  const live = new Set(snapshot.members.filter((m) => isLive(m, snapshot.now)).map((m) => m.id));
  const rows = new Map<number, PartitionRow>();
  for (const row of snapshot.partitions) rows.set(row.partition, row);

  const claim: { partition: number; epoch: number }[] = [];
  for (const p of mine) {
    if (local.held.has(p) || local.draining.has(p)) continue;
    const row = rows.get(p) ?? { partition: p, owner: null, epoch: 0 };
    if (row.owner === null || row.owner === me || !live.has(row.owner))
      claim.push({ partition: p, epoch: row.epoch });
  }
  claim.sort((a, b) => a.partition - b.partition);

  const drain = [...local.held].filter((p) => !mine.has(p)).sort((a, b) => a - b);
  const release: number[] = [];
  for (const row of snapshot.partitions) {
    if (
      row.owner === me &&
      !local.held.has(row.partition) &&
      !local.draining.has(row.partition) &&
      !mine.has(row.partition)
    ) {
      release.push(row.partition);
    }
  }
  release.sort((a, b) => a - b);

  let wakeAt: number | undefined;
  for (const m of snapshot.members) {
    if (m.id === me || !isLive(m, snapshot.now)) continue;
    if (wakeAt === undefined || m.expiresAt < wakeAt) wakeAt = m.expiresAt;
  }
  return { target, claim, drain, release, wakeAt };
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
