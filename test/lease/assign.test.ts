/**
 * The pure assignment function: examples first (each names the rule it pins down), then fast-check
 * properties over random sizes, member sets and current ownerships (dead owners included), and a
 * convergence property that applies `plan()` for every client on a consistent in-memory store.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  computeTarget,
  type MemberRow,
  type PartitionRow,
  plan,
  type Snapshot,
} from '../../src/lease/assign.js';

const NOW = 10_000;
const LIVE = NOW + 1_000;
const DEAD = NOW - 1;
const none = { held: new Set<number>(), draining: new Set<number>() };

/** A snapshot at NOW: `members` maps id → expiresAt, `owners[p]` names partition p's owner. */
function snap(
  size: number,
  members: Record<string, number>,
  owners: (string | null)[] = [],
  epochs: number[] = [],
): Snapshot {
  return {
    size,
    now: NOW,
    members: Object.entries(members).map(([id, expiresAt]) => ({ id, expiresAt })),
    partitions: Array.from({ length: size }, (_, p) => ({
      partition: p,
      owner: owners[p] ?? null,
      epoch: epochs[p] ?? 0,
    })),
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const asObject = (target: Map<string, number[]>) => Object.fromEntries(target);

describe('computeTarget: examples', () => {
  it('gives nothing to nobody when no member is live', () => {
    expect(computeTarget(snap(4, {})).size).toBe(0);
    expect(computeTarget(snap(4, { a: DEAD }, ['a', 'a', null, null])).size).toBe(0);
    const p = plan(snap(4, { a: DEAD }, ['a', 'a']), 'a', none);
    expect(p.claim).toEqual([]);
    expect(p.target.size).toBe(0);
  });

  it('gives one member every partition, claiming missing rows at epoch 0', () => {
    const s: Snapshot = { size: 3, now: NOW, members: [{ id: 'a', expiresAt: LIVE }], partitions: [] };
    expect(asObject(computeTarget(s))).toEqual({ a: [0, 1, 2] });
    expect(plan(s, 'a', none).claim).toEqual([
      { partition: 0, epoch: 0 },
      { partition: 1, epoch: 0 },
      { partition: 2, epoch: 0 },
    ]);
  });

  it('treats a member whose row expires exactly now as dead', () => {
    expect(asObject(computeTarget(snap(2, { a: NOW, b: LIVE }, ['a', 'a'])))).toEqual({ b: [0, 1] });
  });

  it('ignores dead members and hands their partitions out', () => {
    const s = snap(6, { a: LIVE, b: DEAD, c: LIVE }, ['a', 'a', 'b', 'b', 'c', 'c'], [3, 3, 7, 8, 1, 1]);
    expect(asObject(computeTarget(s))).toEqual({ a: [0, 1, 2], c: [3, 4, 5] });
    expect(plan(s, 'a', { held: new Set([0, 1]), draining: new Set() }).claim).toEqual([
      { partition: 2, epoch: 7 },
    ]);
    expect(plan(s, 'c', { held: new Set([4, 5]), draining: new Set() }).claim).toEqual([
      { partition: 3, epoch: 8 },
    ]);
  });

  it('breaks ties by id: with no owners the extra partitions go to the smallest ids', () => {
    expect(asObject(computeTarget(snap(5, { b: LIVE, a: LIVE })))).toEqual({ a: [0, 1, 2], b: [3, 4] });
    expect(asObject(computeTarget(snap(7, { c: LIVE, a: LIVE, b: LIVE })))).toEqual({
      a: [0, 1, 2],
      b: [3, 4],
      c: [5, 6],
    });
  });

  it('gives the extra partitions to the members that hold the most (nobody gives up what it may keep)', () => {
    // b owns 3 of 5, a owns 1: b keeps 3, a gets the rest although a < b.
    expect(asObject(computeTarget(snap(5, { a: LIVE, b: LIVE }, [null, 'b', 'b', 'b', 'a'])))).toEqual({
      a: [0, 4],
      b: [1, 2, 3],
    });
  });

  it('does not move the extra partitions while newcomers fill up', () => {
    // 6 over 4: a keeps its 2, b (first id) gets the other extra. When c has claimed its 1 first, the
    // extra must stay with b: handing it to c (who now holds "more") would cost b one more round.
    const members = { a: LIVE, b: LIVE, c: LIVE, d: LIVE };
    const before = computeTarget(snap(6, members, ['a', 'a']));
    const after = computeTarget(snap(6, members, ['a', 'a', 'c']));
    expect(asObject(before)).toEqual({ a: [0, 1], b: [2, 3], c: [4], d: [5] });
    expect(after.get('b')).toHaveLength(2);
    expect(after.get('c')).toEqual([2]);
  });

  it('keeps the lowest-numbered partitions of an over-quota member (sticky) and drains the others', () => {
    const s = snap(4, { a: LIVE, b: LIVE }, ['a', 'a', 'a', 'a']);
    expect(asObject(computeTarget(s))).toEqual({ a: [0, 1], b: [2, 3] });
    const a = plan(s, 'a', { held: new Set([0, 1, 2, 3]), draining: new Set() });
    expect(a.drain).toEqual([2, 3]);
    expect(a.claim).toEqual([]);
    // b waits for a's release: it does not claim partitions a live member owns.
    expect(plan(s, 'b', none).claim).toEqual([]);
  });

  it('splits to ±1', () => {
    const sizes = [...computeTarget(snap(10, { a: LIVE, b: LIVE, c: LIVE })).values()].map((v) => v.length);
    expect(sizes).toEqual([4, 3, 3]);
    const many = [...computeTarget(snap(3, { a: LIVE, b: LIVE, c: LIVE, d: LIVE, e: LIVE })).values()].map(
      (v) => v.length,
    );
    expect(many).toEqual([1, 1, 1, 0, 0]);
  });

  it('moves only the joiner’s share on a join, and nothing between members that stay', () => {
    const owners = [...range(0, 6).map(() => 'a'), ...range(6, 12).map(() => 'b')];
    const t = computeTarget(snap(12, { a: LIVE, b: LIVE, c: LIVE }, owners));
    expect(t.get('a')).toEqual([0, 1, 2, 3]);
    expect(t.get('b')).toEqual([6, 7, 8, 9]);
    expect(t.get('c')).toEqual([4, 5, 10, 11]);
  });

  it('gives a leaving member’s partitions to the others, and moves nothing else', () => {
    const owners = [
      ...range(0, 4).map(() => 'a'),
      ...range(4, 8).map(() => 'b'),
      ...range(8, 12).map(() => 'c'),
    ];
    const t = computeTarget(snap(12, { a: LIVE, b: LIVE, c: DEAD }, owners));
    expect(t.get('a')).toEqual([0, 1, 2, 3, 8, 9]);
    expect(t.get('b')).toEqual([4, 5, 6, 7, 10, 11]);
  });

  it('ignores rows beyond the size, duplicate member rows and owners that are not members', () => {
    const s: Snapshot = {
      size: 2,
      now: NOW,
      members: [
        { id: 'a', expiresAt: DEAD },
        { id: 'a', expiresAt: LIVE },
        { id: 'b', expiresAt: LIVE },
      ],
      partitions: [
        { partition: 0, owner: 'ghost', epoch: 4 },
        { partition: 1, owner: 'b', epoch: 1 },
        { partition: 5, owner: 'a', epoch: 1 },
      ],
    };
    expect(asObject(computeTarget(s))).toEqual({ a: [0], b: [1] });
    expect(plan(s, 'a', none).claim).toEqual([{ partition: 0, epoch: 4 }]);
  });
});

describe('plan: examples', () => {
  it('claims a partition the store names mine but I do not hold (after a self-fence), with its epoch', () => {
    const s = snap(2, { a: LIVE }, ['a', 'a'], [5, 6]);
    expect(plan(s, 'a', { held: new Set([0]), draining: new Set() }).claim).toEqual([
      { partition: 1, epoch: 6 },
    ]);
  });

  it('neither claims nor releases a partition that is draining', () => {
    const s = snap(2, { a: LIVE, b: LIVE }, ['a', 'a']);
    const p = plan(s, 'a', { held: new Set([0]), draining: new Set([1]) });
    expect(p).toMatchObject({ claim: [], drain: [], release: [] });
    // Even when the target gives it back to me: the drain finishes first.
    const alone = plan(snap(2, { a: LIVE }, ['a', 'a']), 'a', { held: new Set([0]), draining: new Set([1]) });
    expect(alone).toMatchObject({ claim: [], drain: [], release: [] });
  });

  it('releases at once an orphan the store names mine that is neither held, draining nor in my target', () => {
    const s = snap(4, { a: LIVE, b: LIVE }, ['a', 'a', 'a', 'b']);
    // a's quota is 2 (it owns the most); it keeps 0 and 1, partition 2 goes to b.
    const p = plan(s, 'a', { held: new Set([0]), draining: new Set() });
    expect(p.release).toEqual([2]);
    expect(p.claim).toEqual([{ partition: 1, epoch: 0 }]);
    expect(p.drain).toEqual([]);
  });

  it('drains held partitions that left my target, including ones the store no longer knows', () => {
    const s = snap(2, { a: LIVE, b: LIVE }, ['b', 'b']);
    expect(plan(s, 'a', { held: new Set([0, 1]), draining: new Set() }).drain).toEqual([0]);
    // `b` is not live here, so a holds nothing it may keep.
    expect(plan(snap(2, { b: LIVE }), 'a', { held: new Set([1]), draining: new Set() }).drain).toEqual([1]);
  });

  it('wakes at the earliest expiry of another live member, never for me or the dead', () => {
    const s = snap(2, { a: NOW + 50, b: NOW + 700, c: NOW + 300, d: DEAD });
    expect(plan(s, 'a', none).wakeAt).toBe(NOW + 300);
    expect(plan(s, 'c', none).wakeAt).toBe(NOW + 50);
    expect(plan(snap(2, { a: LIVE, d: DEAD }), 'a', none).wakeAt).toBeUndefined();
  });

  it('gives a non-member (me not live) no target: it claims nothing and drains what it holds', () => {
    const p = plan(snap(2, { b: LIVE }, ['x', 'x']), 'x', { held: new Set([0, 1]), draining: new Set() });
    expect(p).toMatchObject({ claim: [], drain: [0, 1], release: [] });
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties

interface World {
  snapshot: Snapshot;
  live: string[];
}

const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];

/**
 * Random sizes 1..512, 0..12 members (each live or dead), current owners drawn from the members, a
 * stranger, or nobody; random epochs. Rows come in random order and some rows are missing.
 */
const randomWorldArb: fc.Arbitrary<World> = fc
  .record({
    size: fc.integer({ min: 1, max: 512 }),
    members: fc.uniqueArray(fc.record({ id: fc.constantFrom(...ids), live: fc.boolean() }), {
      selector: (m) => m.id,
      maxLength: 12,
    }),
    seed: fc.nat(),
    ownerBias: fc.integer({ min: 0, max: 4 }),
  })
  .chain(({ size, members, seed, ownerBias }) =>
    fc
      .array(
        fc.record({
          owner: fc.oneof(
            { weight: 1, arbitrary: fc.constant(null) },
            { weight: 1, arbitrary: fc.constant('stranger') },
            {
              weight: 2 + ownerBias * 2,
              arbitrary:
                members.length > 0 ? fc.constantFrom(...members.map((m) => m.id)) : fc.constant(null),
            },
          ),
          epoch: fc.nat({ max: 1_000 }),
          present: fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x > 0.05),
        }),
        { minLength: size, maxLength: size },
      )
      .map((rows) => {
        const memberRows: MemberRow[] = members.map((m) => ({
          id: m.id,
          expiresAt: m.live ? LIVE + (seed % 97) : DEAD - (seed % 13),
        }));
        const partitionRows: PartitionRow[] = rows
          .map((r, partition) => ({ partition, owner: r.owner, epoch: r.epoch, present: r.present }))
          .filter((r) => r.present)
          .map(({ partition, owner, epoch }) => ({ partition, owner, epoch }));
        const snapshot: Snapshot = {
          size,
          now: NOW,
          members: shuffle(memberRows, seed),
          partitions: shuffle(partitionRows, seed + 1),
        };
        return { snapshot, live: members.filter((m) => m.live).map((m) => m.id) };
      }),
  );

/**
 * A balanced split among earlier members (blocks or round-robin, a few partitions freed), then
 * churn: some of them died, some new ones joined. This is where the choice of who gets the extra
 * partitions decides how much moves.
 */
const churnWorldArb: fc.Arbitrary<World> = fc
  .record({
    size: fc.integer({ min: 1, max: 512 }),
    before: fc.uniqueArray(fc.constantFrom(...ids), { minLength: 1, maxLength: 8 }),
    joined: fc.uniqueArray(fc.constantFrom(...ids), { maxLength: 4 }),
    deadMask: fc.nat(),
    roundRobin: fc.boolean(),
    freed: fc.array(fc.nat(), { maxLength: 4 }),
    seed: fc.nat(),
  })
  .map(({ size, before, joined, deadMask, roundRobin, freed, seed }) => {
    const dead = new Set(before.filter((_, i) => (deadMask >> i) & 1));
    const block = Math.ceil(size / before.length);
    const owners: (string | null)[] = Array.from(
      { length: size },
      (_, p) => before[roundRobin ? p % before.length : Math.floor(p / block)]!,
    );
    for (const f of freed) owners[f % size] = null;
    const all = [...new Set([...before, ...joined])];
    const memberRows = all.map((id) => ({
      id,
      expiresAt: dead.has(id) && !joined.includes(id) ? DEAD : LIVE,
    }));
    const partitionRows = owners.map((owner, partition) => ({ partition, owner, epoch: 1 }));
    const snapshot: Snapshot = {
      size,
      now: NOW,
      members: shuffle(memberRows, seed),
      partitions: shuffle(partitionRows, seed + 1),
    };
    return { snapshot, live: memberRows.filter((m) => m.expiresAt > NOW).map((m) => m.id) };
  });

const worldArb: fc.Arbitrary<World> = fc.oneof(randomWorldArb, churnWorldArb);

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Current owner of each partition as the rules see it: a live member, or undefined. */
function currentOwners(w: World): (string | undefined)[] {
  const live = new Set(w.live);
  const owners: (string | undefined)[] = Array.from({ length: w.snapshot.size }, () => undefined);
  for (const r of w.snapshot.partitions)
    if (r.owner !== null && live.has(r.owner)) owners[r.partition] = r.owner;
  return owners;
}

function ownedBy(w: World): Map<string, number[]> {
  const owned = new Map<string, number[]>(w.live.map((id) => [id, []]));
  currentOwners(w).forEach((o, p) => {
    if (o !== undefined) owned.get(o)!.push(p);
  });
  return owned;
}

/**
 * The fewest partitions any ±1 split can move, computed independently of the implementation: a split
 * keeps Σ min(ownedᵢ, quotaᵢ), which is largest when the ⌈⌉ quotas go to the members owning the most.
 */
function minimumMoves(w: World): number {
  const n = w.snapshot.size;
  const c = w.live.length;
  const counts = [...ownedBy(w).values()].map((l) => l.length).sort((a, b) => b - a);
  const base = Math.floor(n / c);
  const extra = n % c;
  const kept = counts.reduce((sum, owned, i) => sum + Math.min(owned, base + (i < extra ? 1 : 0)), 0);
  return n - kept;
}

const runs = { numRuns: 300 };

describe('computeTarget: properties', () => {
  it('assigns every partition 0..N-1 exactly once, to live members only, sorted', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const target = computeTarget(w.snapshot);
        expect([...target.keys()].sort()).toEqual([...w.live].sort());
        if (w.live.length === 0) return;
        const all = [...target.values()].flat().sort((a, b) => a - b);
        expect(all).toEqual(range(0, w.snapshot.size));
        for (const list of target.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
      }),
      runs,
    );
  });

  it('splits to ±1', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const counts = [...computeTarget(w.snapshot).values()].map((l) => l.length);
        if (counts.length === 0) return;
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
      runs,
    );
  });

  it('is sticky: each live member keeps min(owned, quota) of what it owns', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const target = computeTarget(w.snapshot);
        for (const [id, owned] of ownedBy(w)) {
          const mine = target.get(id)!;
          const kept = owned.filter((p) => mine.includes(p));
          expect(kept.length).toBe(Math.min(owned.length, mine.length));
        }
      }),
      runs,
    );
  });

  it('moves the minimum: Σ max(0, owned − quota) + partitions with a dead or no owner', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        if (w.live.length === 0) return;
        const target = computeTarget(w.snapshot);
        const owners = currentOwners(w);
        let moves = 0;
        for (const [id, list] of target) for (const p of list) if (owners[p] !== id) moves++;
        expect(moves).toBe(minimumMoves(w));
        // The same count from the quotas the function chose.
        const owned = ownedBy(w);
        const orphans = owners.filter((o) => o === undefined).length;
        const excess = [...target].reduce(
          (sum, [id, list]) => sum + Math.max(0, owned.get(id)!.length - list.length),
          0,
        );
        expect(moves).toBe(excess + orphans);
      }),
      runs,
    );
  });

  it('is deterministic: the order of rows does not matter', () => {
    fc.assert(
      fc.property(worldArb, fc.integer(), (w, seed) => {
        const shuffled: Snapshot = {
          ...w.snapshot,
          members: shuffle(w.snapshot.members, seed),
          partitions: shuffle(w.snapshot.partitions, seed ^ 0x5bd1e995),
        };
        expect(asObject(computeTarget(shuffled))).toEqual(asObject(computeTarget(w.snapshot)));
        expect(asObject(computeTarget(w.snapshot))).toEqual(asObject(computeTarget(w.snapshot)));
      }),
      runs,
    );
  });
});

describe('plan: properties', () => {
  it('claims only my target, never a partition a live other member owns; drains held ∖ target; releases only orphans named mine', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), fc.nat(), (w, pick, heldSeed) => {
        if (w.live.length === 0) return;
        const me = w.live[pick % w.live.length]!;
        const owners = currentOwners(w);
        const namedMine = w.snapshot.partitions.filter((r) => r.owner === me).map((r) => r.partition);
        // Locally I hold or drain some of what the store names mine.
        const held = new Set(namedMine.filter((_, i) => (heldSeed >> (i % 30)) & 1));
        const draining = new Set(namedMine.filter((p) => !held.has(p) && p % 3 === 0));
        const out = plan(w.snapshot, me, { held, draining });
        const mine = new Set(out.target.get(me));
        const rows = new Map(w.snapshot.partitions.map((r) => [r.partition, r]));
        for (const c of out.claim) {
          expect(mine.has(c.partition)).toBe(true);
          expect(held.has(c.partition) || draining.has(c.partition)).toBe(false);
          expect(owners[c.partition] === undefined || owners[c.partition] === me).toBe(true);
          expect(c.epoch).toBe(rows.get(c.partition)?.epoch ?? 0);
        }
        expect(out.drain).toEqual([...held].filter((p) => !mine.has(p)).sort((a, b) => a - b));
        for (const p of out.release) {
          expect(rows.get(p)?.owner).toBe(me);
          expect(mine.has(p) || held.has(p) || draining.has(p)).toBe(false);
        }
        // Everything in my target is held, draining, about to be claimed, or waits for a live owner.
        const claimed = new Set(out.claim.map((c) => c.partition));
        for (const p of mine) {
          const o = owners[p];
          expect(held.has(p) || draining.has(p) || claimed.has(p) || (o !== undefined && o !== me)).toBe(
            true,
          );
        }
      }),
      runs,
    );
  });
});

/**
 * A consistent store (every statement applies at once) and one client per live member: in each round
 * every client in a random order reads the store, plans, drains+releases at once and claims with
 * compare-and-set. Dead members' rows are absent, so their partitions are claimable.
 */
function converge(
  w: World,
  order: number[],
  maxRounds: number,
): { rounds: number; owners: (string | null)[] } {
  const size = w.snapshot.size;
  const rows = Array.from({ length: size }, (_, p) => ({
    partition: p,
    owner: null as string | null,
    epoch: 0,
  }));
  for (const r of w.snapshot.partitions) rows[r.partition] = { ...r };
  const live = new Set(w.live);
  const members = w.live.map((id) => ({ id, expiresAt: LIVE }));
  const held = new Map<string, Set<number>>(
    w.live.map((id) => [id, new Set(rows.filter((r) => r.owner === id).map((r) => r.partition))]),
  );
  const clients = order.map((i) => w.live[i % w.live.length]!).filter((id, i, all) => all.indexOf(id) === i);
  for (const id of w.live) if (!clients.includes(id)) clients.push(id);

  const snapshotNow = (): Snapshot => ({ size, now: NOW, members, partitions: rows.map((r) => ({ ...r })) });
  const stable = () => {
    const target = computeTarget(snapshotNow());
    return [...target].every(([id, list]) =>
      list.every((p) => rows[p]!.owner === id && held.get(id)!.has(p)),
    );
  };
  for (let round = 0; round < maxRounds; round++) {
    if (stable()) return { rounds: round, owners: rows.map((r) => r.owner) };
    for (const id of clients) {
      const mine = held.get(id)!;
      const out = plan(snapshotNow(), id, { held: mine, draining: new Set() });
      for (const p of [...out.drain, ...out.release]) {
        mine.delete(p);
        if (rows[p]!.owner === id) rows[p]!.owner = null;
      }
      for (const c of out.claim) {
        const row = rows[c.partition]!;
        if (row.epoch === c.epoch && (row.owner === null || row.owner === id || !live.has(row.owner))) {
          row.owner = id;
          row.epoch++;
          mine.add(c.partition);
        }
      }
      // Never two owners: what a client holds, the store names it owner of.
      for (const [other, set] of held) {
        for (const p of set)
          if (rows[p]!.owner !== other) throw new Error(`${other} holds ${p}, owned by ${rows[p]!.owner}`);
      }
    }
  }
  return { rounds: stable() ? maxRounds : Infinity, owners: rows.map((r) => r.owner) };
}

describe('plan: convergence on a consistent store', () => {
  it('reaches the target of its own final state within 2 rounds and stays there', () => {
    fc.assert(
      fc.property(worldArb, fc.array(fc.nat(), { maxLength: 12 }), (w, order) => {
        if (w.live.length === 0) return;
        const { rounds, owners } = converge(w, order, 2);
        expect(rounds).toBeLessThanOrEqual(2);
        const counts = w.live.map((id) => owners.filter((o) => o === id).length);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(owners.every((o) => o !== null && w.live.includes(o))).toBe(true);
        // Stays there: at the fixpoint nobody has anything to do.
        const members = w.live.map((id) => ({ id, expiresAt: LIVE }));
        const partitions = owners.map((owner, partition) => ({ partition, owner, epoch: 1 }));
        for (const id of w.live) {
          const held = new Set(owners.flatMap((o, p) => (o === id ? [p] : [])));
          const out = plan({ size: w.snapshot.size, now: NOW, members, partitions }, id, {
            held,
            draining: new Set(),
          });
          expect(out).toMatchObject({ claim: [], drain: [], release: [] });
        }
      }),
      { numRuns: 150 },
    );
  });
});
