/**
 * The operators' view: lag per partition (waiting jobs, age of the next job), throughput per client
 * over the last 15 minutes, ownership moves on the same time axis, and stuck partitions. One shared
 * sampler for every page and every /metrics scrape: a sample is taken at most once per `sampleEvery`
 * ms, however many viewers ask.
 */
import { withTimeout } from '../lease/timeout.js';
import type { QueueSample, QueueSource, QueueTarget } from './queue-source.js';
import type { QueueCounts, Snapshot } from './types.js';

export const WINDOW_MS = 15 * 60_000;
/** Throughput is counted in buckets of this many ms (so 900 per 15 minutes). */
export const BUCKET_MS = 1000;

export interface PartitionLag {
  partition: number;
  waiting: number;
  active: number;
  /** Age of the next job (the oldest waiting), ms; null when nothing waits. */
  lagMs: number | null;
  /** How long the next job has been the next one, ms (what stuck detection judges); null when nothing waits. */
  headForMs: number | null;
  /** The owner is live, jobs wait, and the next one has not moved for longer than `stuckAfter`. */
  stuck: boolean;
}

/** Jobs finished in one bucket, per client (the partition's owner when the sample saw them). */
export interface ThroughputPoint {
  /** Bucket start, ms since the epoch (dashboard clock). */
  t: number;
  completed: Record<string, number>;
  failed: Record<string, number>;
}

export interface MoveMark {
  at: number;
  lease: string;
  partition: number;
  from: string | null;
  to: string | null;
  reason: string;
}

/**
 * One lease's lag, column-wise (index = partition) so a 4096-partition lease stays small on the wire:
 * about 20 bytes per partition and event.
 */
export interface LeaseLag {
  waiting: number[];
  active: number[];
  lagMs: (number | null)[];
  headForMs: (number | null)[];
  /** The stuck partitions. */
  stuck: number[];
}

function columns(parts: PartitionLag[]): LeaseLag {
  const out: LeaseLag = { waiting: [], active: [], lagMs: [], headForMs: [], stuck: [] };
  for (const p of parts) {
    out.waiting[p.partition] = p.waiting;
    out.active[p.partition] = p.active;
    out.lagMs[p.partition] = p.lagMs;
    out.headForMs[p.partition] = p.headForMs;
    if (p.stuck) out.stuck.push(p.partition);
  }
  return out;
}

/** What the page gets in an `ops` event. */
export interface OpsView {
  /** True on a page's first event: `points` and `moves` cover the whole window (replace, not merge). */
  full: boolean;
  /** Dashboard clock, ms since the epoch. */
  now: number;
  bucketMs: number;
  windowMs: number;
  stuckAfterMs: number;
  leases: Record<string, LeaseLag>;
  /** Oldest first; on a page's first event the whole window, afterwards the last few buckets. */
  points: ThroughputPoint[];
  /** Moves in the window (first event) or since the previous event. */
  moves: MoveMark[];
  /** Set when the queue read failed. */
  error: string | null;
}

const NO_OWNER = '(unowned)';
const SAMPLE_TIMEOUT_MS = 2_000;

export class OpsMonitor {
  readonly #source: () => Promise<QueueSource> | undefined;
  readonly #stuckAfter: number;
  readonly #sampleEvery: number;
  readonly #points: ThroughputPoint[] = [];
  readonly #moves: MoveMark[] = [];
  readonly #seenMoves = new Set<number>();
  /** Per `lease/partition`: the next job's id and when this sampler first saw it there. */
  readonly #heads = new Map<string, { id: string; seenAt: number }>();
  #leases: Record<string, PartitionLag[]> = {};
  #error: string | null = null;
  #lastAt = 0;
  #inFlight: Promise<void> | undefined;
  #newMoves: MoveMark[] = [];
  #primed = false;
  /** The counts of the last sample, per queue, and when it was taken. */
  #counts = new Map<string, QueueCounts>();
  #countsAt = 0;

  constructor(source: () => Promise<QueueSource> | undefined, stuckAfter: number, sampleEvery = BUCKET_MS) {
    this.#source = source;
    this.#stuckAfter = stuckAfter;
    this.#sampleEvery = sampleEvery;
  }

  /** Samples the queues of `snapshot`'s partitions, unless a sample is younger than `sampleEvery`. */
  observe(snapshot: Snapshot): Promise<void> {
    if (Date.now() - this.#lastAt < this.#sampleEvery - 20) return this.#inFlight ?? Promise.resolve();
    this.#inFlight ??= this.#sample(snapshot).finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #sample(snapshot: Snapshot): Promise<void> {
    this.#lastAt = Date.now();
    this.#recordMoves(snapshot);
    const pending = this.#source();
    if (!pending) return;
    const targets: QueueTarget[] = [];
    const owners: (string | null)[] = [];
    const liveOwner: boolean[] = [];
    const live = new Set(snapshot.clients.filter((c) => c.state === 'live').map((c) => c.id));
    for (const lease of snapshot.leases) {
      for (const p of lease.partitions) {
        if (!p.queue) continue;
        targets.push({ lease: lease.name, partition: p.partition, queue: p.queue });
        owners.push(p.status === 'owned' ? p.owner : null);
        liveOwner.push(p.status === 'owned' && p.owner !== null && live.has(p.owner));
      }
    }
    let samples: QueueSample[];
    try {
      samples = await withTimeout(
        pending.then((q) => q.sample(targets)),
        SAMPLE_TIMEOUT_MS,
        () => new Error(`Redis did not answer within ${SAMPLE_TIMEOUT_MS} ms`),
      );
      this.#error = null;
    } catch (error) {
      this.#error = error instanceof Error ? error.message : String(error);
      return;
    }
    const now = Date.now();
    this.#counts = new Map(
      samples.map((x, i) => [
        (targets[i] as QueueTarget).queue,
        { waiting: x.waiting, active: x.active, delayed: x.delayed, failed: x.failed },
      ]),
    );
    this.#countsAt = now;
    // The first sample only sets the completion marks: it has nothing to count yet.
    const point = this.#primed ? this.#bucket(now) : { t: now, completed: {}, failed: {} };
    this.#primed = true;
    const leases: Record<string, PartitionLag[]> = {};
    const seen = new Set<string>();
    samples.forEach((s, i) => {
      const t = targets[i] as QueueTarget;
      const id = `${t.lease}/${t.partition}`;
      seen.add(id);
      let headForMs: number | null = null;
      if (s.headId === null) this.#heads.delete(id);
      else {
        const h = this.#heads.get(id);
        if (h?.id === s.headId) headForMs = now - h.seenAt;
        else {
          this.#heads.set(id, { id: s.headId, seenAt: now });
          headForMs = 0;
        }
      }
      const lagMs = s.headId === null ? null : Math.max(0, now - (s.headSince ?? now));
      const stuck = (liveOwner[i] ?? false) && headForMs !== null && headForMs > this.#stuckAfter;
      (leases[t.lease] ??= []).push({
        partition: t.partition,
        waiting: s.waiting,
        active: s.active,
        lagMs,
        headForMs,
        stuck,
      });
      const who = owners[i] ?? NO_OWNER;
      if (s.completed) point.completed[who] = (point.completed[who] ?? 0) + s.completed;
      if (s.failed) point.failed[who] = (point.failed[who] ?? 0) + s.failed;
    });
    for (const id of this.#heads.keys()) if (!seen.has(id)) this.#heads.delete(id);
    this.#leases = leases;
  }

  /** The bucket of `now`, creating empty ones up to it; drops buckets older than the window. */
  #bucket(now: number): ThroughputPoint {
    const t = now - (now % BUCKET_MS);
    let last = this.#points[this.#points.length - 1];
    if (!last || last.t < t) {
      for (let b = last ? last.t + BUCKET_MS : t; b <= t; b += BUCKET_MS)
        this.#points.push({ t: b, completed: {}, failed: {} });
      last = this.#points[this.#points.length - 1] as ThroughputPoint;
    }
    while (this.#points.length > 0 && (this.#points[0] as ThroughputPoint).t < t - WINDOW_MS)
      this.#points.shift();
    return last;
  }

  #recordMoves(snapshot: Snapshot): void {
    const cutoff = Date.now() - WINDOW_MS;
    for (const m of [...snapshot.history].reverse()) {
      if (this.#seenMoves.has(m.id)) continue;
      this.#seenMoves.add(m.id);
      const at = Date.parse(m.at);
      if (at < cutoff) continue;
      const mark = { at, lease: m.lease, partition: m.partition, from: m.from, to: m.to, reason: m.reason };
      this.#moves.push(mark);
      this.#newMoves.push(mark);
    }
    while (this.#moves.length > 0 && (this.#moves[0] as MoveMark).at < cutoff) this.#moves.shift();
    if (this.#moves.length > 2000) this.#moves.splice(0, this.#moves.length - 2000);
    if (this.#seenMoves.size > 10_000) {
      const keep = [...this.#seenMoves].slice(-5000);
      this.#seenMoves.clear();
      keep.forEach((id) => this.#seenMoves.add(id));
    }
  }

  /** The current picture: `full` with the whole window (a new page), else the recent part. */
  view(full: boolean): OpsView {
    const moves = full ? [...this.#moves] : this.#newMoves;
    if (!full) this.#newMoves = [];
    return {
      full,
      now: Date.now(),
      bucketMs: BUCKET_MS,
      windowMs: WINDOW_MS,
      stuckAfterMs: this.#stuckAfter,
      leases: Object.fromEntries(Object.entries(this.#leases).map(([name, parts]) => [name, columns(parts)])),
      points: full ? [...this.#points] : this.#points.slice(-3),
      moves,
      error: this.#error,
    };
  }

  /**
   * The counts of these queues from a sample younger than `maxAgeMs`, or undefined: the page's poll
   * reuses them instead of reading the same keys again while the sampler runs.
   */
  recentCounts(queues: string[], maxAgeMs: number): QueueCounts[] | undefined {
    if (Date.now() - this.#countsAt > maxAgeMs) return undefined;
    const out: QueueCounts[] = [];
    for (const q of queues) {
      const c = this.#counts.get(q);
      if (!c) return undefined;
      out.push(c);
    }
    return out;
  }

  /** Lag per partition from the last sample (what /metrics reports). */
  get leases(): Record<string, PartitionLag[]> {
    return this.#leases;
  }
}
