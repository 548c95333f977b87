/**
 * The seeded fault schedule: the same seed and settings give the same faults at the same offsets with
 * the same victim picks, so a failing run can be rerun with `--seed`. (What the fleet does in between
 * still depends on timing: the schedule is reproducible, the interleaving is not.)
 */

export const FAULT_KINDS = [
  'kill',
  'pause',
  'pg-terminate',
  'redis-kill',
  'graceful',
  'close-claim',
  'blackhole-stop',
  'pg-restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  id: number;
  /** Offset from the start of the fault phase, ms. */
  atMs: number;
  kind: FaultKind;
  /** In [0, 1): picks the victim among the workers eligible when the fault is due. */
  pick: number;
  /** How long a pause lasts (SIGSTOP → SIGCONT), ms. */
  durationMs?: number;
}

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ScheduleOptions {
  seed: number;
  faults: number;
  ttlMs: number;
  restartPostgres: boolean;
  /** Only these kinds (default: all; `pg-restart` also needs `restartPostgres`). */
  kinds?: readonly FaultKind[];
  /** Gap between two faults is drawn from [minGapMs, maxGapMs]. */
  minGapMs: number;
  maxGapMs: number;
}

const WEIGHTS: [FaultKind, number][] = [
  ['kill', 3],
  ['pause', 3],
  ['pg-terminate', 2],
  ['redis-kill', 2],
  ['graceful', 2],
  ['close-claim', 1],
  ['blackhole-stop', 1],
];

/**
 * Every kind appears once before any repeats (in a seeded order, a Postgres restart only when
 * allowed, then at most one per ten faults); the rest are drawn by weight. A pause lasts ttl + 1–2.5 s,
 * so the paused owner wakes up after others took over. A restart is followed by a longer gap.
 */
export function planFaults(o: ScheduleOptions): PlannedFault[] {
  const random = rng(o.seed);
  const allowed = (k: FaultKind) => o.kinds === undefined || o.kinds.includes(k);
  const weights = WEIGHTS.filter(([k]) => allowed(k));
  const restart = o.restartPostgres && allowed('pg-restart');
  const kinds: FaultKind[] = weights.map(([k]) => k);
  if (restart) kinds.push('pg-restart');
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const total = weights.reduce((n, [, w]) => n + w, 0);
  let restarts = kinds.includes('pg-restart') ? 1 : 0;
  while (kinds.length < o.faults) {
    if (restart && (weights.length === 0 || (restarts < Math.floor(o.faults / 10) && random() < 0.1))) {
      kinds.push('pg-restart');
      restarts++;
      continue;
    }
    let r = random() * total;
    const kind = weights.find(([, w]) => (r -= w) < 0)?.[0] ?? weights[0]?.[0];
    if (kind === undefined) break;
    kinds.push(kind);
  }
  kinds.length = Math.min(kinds.length, o.faults);
  const plan: PlannedFault[] = [];
  let at = 0;
  kinds.forEach((kind, i) => {
    const fault: PlannedFault = { id: i + 1, atMs: Math.round(at), kind, pick: random() };
    if (kind === 'pause') fault.durationMs = o.ttlMs + 1000 + Math.round(random() * 1500);
    plan.push(fault);
    at += o.minGapMs + random() * (o.maxGapMs - o.minGapMs) + (kind === 'pg-restart' ? 5000 : 0);
  });
  return plan;
}
