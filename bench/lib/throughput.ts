/**
 * One ordered-throughput run of one system: pre-fill, start two consumer processes, release them
 * together, time the drain; then a fixed-rate stream for enqueue→completion latency. Shared by
 * scenario 1 (ordered-throughput.ts) and the profiling script (profile.ts).
 */
import type { Redis } from 'ioredis';

import type { BenchChild, Message } from './child.js';
import {
  type CommandStat,
  commandStats,
  now,
  quantile,
  redisCpuSeconds,
  sleep,
  statsDelta,
  waitFor,
} from './common.js';
import { diffCounts } from './count-commands.js';
import { loadNow } from './machine.js';
import { type Job, SystemUnderTest, type Variant } from './systems.js';

export interface ThroughputPlan {
  /** Jobs pre-filled and drained (the throughput measurement). */
  jobs: number;
  keys: number;
  /** Producer batch size for the pre-fill. */
  batch: number;
  /** Fixed-rate stream after the drain (latency measurement): jobs/s and seconds; 0 seconds skips it. */
  streamRate: number;
  streamSeconds: number;
  processes: number;
  /** Extra node flags for the consumer processes (e.g. `--cpu-prof`). */
  execArgv?: string[];
  /** Redis to read INFO commandstats from (defaults to the system's own connection). */
  statsRedis?: Redis;
  log: (message: string) => void;
}

export interface OrderCheck {
  completions: number;
  distinct: number;
  /** A job of a key completed after a later job of the same key had completed. */
  violations: number;
  /** A job completed more than once (at-least-once delivery). */
  duplicates: number;
  /** Jobs enqueued but never completed. */
  missing: number;
}

export interface ThroughputResult {
  label: string;
  system: string;
  variant: Variant;
  jobs: number;
  /** Seconds from releasing the consumers to the last completion of the pre-filled jobs. */
  drainSeconds: number;
  jobsPerSec: number;
  prefillJobsPerSec: number;
  /** Seconds the lease took to give both processes their share (dbleases; 0 otherwise). */
  leaseSettleSeconds: number;
  stream:
    | {
        rate: number;
        seconds: number;
        jobs: number;
        p50Ms: number;
        p90Ms: number;
        p99Ms: number;
        maxMs: number;
      }
    | undefined;
  order: OrderCheck;
  /** Per-process order checks done inside the processors. */
  localViolations: number;
  /** Server side (INFO commandstats, includes commands run inside Lua scripts and other clients' traffic). */
  redisPerJob: { calls: number; usec: number; top: Array<{ cmd: string; calls: number; usec: number }> };
  /** Client side: commands the consumer processes sent during the drain, per job (each one a request; pipelined ones included). */
  sentPerJob: { total: number; byCommand: Record<string, number> };
  /** Redis `used_memory` right after the drain (whole server; meaningful on a private Redis). */
  usedMemoryMiB: number;
  /** Redis server CPU (INFO cpu) during the drain, ms per 1000 jobs (whole server: includes other clients). */
  redisCpuMsPer1000: number;
  /** Consumer CPU (both processes) during the drain, ms per 1000 jobs. */
  consumerCpuMsPer1000: number;
  processes: Array<{ cpuMs: number; rssMiB: number; processed: number; errors: string[] }>;
  loadavg: { before: number[]; after: number[] };
}

/** Per-key sequence numbers; `next(n)` yields n jobs round-robin over the keys. */
export class KeySequence {
  readonly #next: Int32Array;
  #cursor = 0;
  constructor(readonly keys: number) {
    this.#next = new Int32Array(keys);
  }
  next(n: number): Job[] {
    const out: Job[] = [];
    for (let i = 0; i < n; i++) {
      const key = this.#cursor;
      this.#cursor = (this.#cursor + 1) % this.keys;
      out.push({ key, seq: this.#next[key]!++ });
    }
    return out;
  }
  /** Jobs produced so far per key. */
  counts(): Int32Array {
    return this.#next;
  }
}

/** Completion records, flat: key, seq, enqueuedAt, completedAt. */
export class Completions {
  data: number[] = [];
  get count(): number {
    return this.data.length / 4;
  }
  add(recs: number[]): void {
    for (let i = 0; i < recs.length; i++) this.data.push(recs[i]!);
  }
  /** Latencies (completedAt − enqueuedAt) of records `from`..end, sorted. */
  latencies(from: number): Float64Array {
    const out = new Float64Array(this.count - from);
    for (let i = from; i < this.count; i++) out[i - from] = this.data[i * 4 + 3]! - this.data[i * 4 + 2]!;
    return out.sort();
  }
  /** Completion times, sorted. */
  times(): Float64Array {
    const out = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.data[i * 4 + 3]!;
    return out.sort();
  }
  /** Global per-key order across processes, by completion time. */
  check(expected: Int32Array): OrderCheck {
    const n = this.count;
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => this.data[a * 4 + 3]! - this.data[b * 4 + 3]! || a - b);
    const maxSeen = new Float64Array(expected.length).fill(-1);
    const seen = expected.map(() => 0);
    const done = new Set<number>();
    let violations = 0;
    let duplicates = 0;
    for (const i of idx) {
      const k = this.data[i * 4]!;
      const s = this.data[i * 4 + 1]!;
      const id = k * 10_000_000 + s;
      if (done.has(id)) {
        duplicates++;
        continue;
      }
      done.add(id);
      seen[k]!++;
      if (s < maxSeen[k]!) violations++;
      else maxSeen[k] = s;
    }
    let missing = 0;
    for (let k = 0; k < expected.length; k++) missing += expected[k]! - seen[k]!;
    return { completions: n, distinct: done.size, violations, duplicates, missing };
  }
}

export async function runOrdered(variant: Variant, plan: ThroughputPlan): Promise<ThroughputResult> {
  const sut = new SystemUnderTest(variant, plan.keys);
  const log = (m: string) => plan.log(`[${variant.label}] ${m}`);
  const completions = new Completions();
  const partitionCounts = new Map<BenchChild, number>();
  const closed = new Map<BenchChild, Message>();
  const onMessage = (msg: Message, child: BenchChild) => {
    if (msg.type === 'done') completions.add(msg.recs as number[]);
    else if (msg.type === 'partitions') partitionCounts.set(child, msg.n as number);
    else if (msg.type === 'closed') closed.set(child, msg);
  };
  const loadBefore = loadNow();
  try {
    await sut.setUp();
    const seq = new KeySequence(plan.keys);
    await sut.setPaused(true);
    const t0 = performance.now();
    for (let done = 0; done < plan.jobs; done += plan.batch) {
      await sut.add(seq.next(Math.min(plan.batch, plan.jobs - done)), now());
    }
    const prefillSeconds = (performance.now() - t0) / 1000;
    log(`pre-filled ${plan.jobs} jobs in ${prefillSeconds.toFixed(1)} s`);

    const spawnedAt = performance.now();
    const children = await Promise.all(
      Array.from({ length: plan.processes }, (_, i) =>
        sut.spawn(onMessage, plan.execArgv, i, plan.processes),
      ),
    );
    let leaseSettleSeconds = 0;
    if (variant.system === 'dbleases') {
      await sut.waitBalanced(partitionCounts, children, 60_000);
      leaseSettleSeconds = (performance.now() - spawnedAt) / 1000;
      log(`lease split ${[...partitionCounts.values()].join('/')} after ${leaseSettleSeconds.toFixed(1)} s`);
    }
    const statsRedis = plan.statsRedis ?? sut.redis;
    const snapshot = () =>
      Promise.all(
        children.map((c) => {
          const reply = c.next('snapshot', 10_000);
          c.send({ type: 'snapshot' });
          return reply;
        }),
      );
    const snapBefore = await snapshot();
    const before: Map<string, CommandStat> = await commandStats(statsRedis);
    const redisCpuBefore = await redisCpuSeconds(statsRedis);
    const start = now();
    await sut.setPaused(false);
    for (const c of children) c.send({ type: 'go' });
    await waitFor('the pre-filled jobs to complete', () => completions.count >= plan.jobs, 300_000, 10);
    const times = completions.times();
    const end = times[plan.jobs - 1]!;
    const after = await commandStats(statsRedis);
    const redisCpu = (await redisCpuSeconds(statsRedis)) - redisCpuBefore;
    const usedMemoryMiB =
      Number(/used_memory:(\d+)/.exec(await statsRedis.info('memory'))?.[1] ?? Number.NaN) / 2 ** 20;
    const snapAfter = await snapshot();
    const sent: Record<string, number> = {};
    let cpuMs = 0;
    children.forEach((_, i) => {
      const d = diffCounts(
        snapBefore[i]!.counts as Record<string, number>,
        snapAfter[i]!.counts as Record<string, number>,
      );
      for (const [k, v] of Object.entries(d)) sent[k] = (sent[k] ?? 0) + v;
      cpuMs += (snapAfter[i]!.cpuMs as number) - (snapBefore[i]!.cpuMs as number);
    });
    const sentTotal = Object.values(sent).reduce((a, b) => a + b, 0);
    const drainSeconds = (end - start) / 1000;
    log(`drained in ${drainSeconds.toFixed(2)} s: ${Math.round(plan.jobs / drainSeconds)} jobs/s`);

    let stream: ThroughputResult['stream'];
    if (plan.streamSeconds > 0) {
      await sleep(200);
      const from = completions.count;
      const tickMs = 20;
      const perTick = Math.max(1, Math.round((plan.streamRate * tickMs) / 1000));
      const ticks = Math.round((plan.streamSeconds * 1000) / tickMs);
      const streamStart = performance.now();
      const pending: Array<Promise<void>> = [];
      for (let i = 0; i < ticks; i++) {
        const due = streamStart + i * tickMs;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        pending.push(sut.add(seq.next(perTick), now()));
      }
      await Promise.all(pending);
      const streamed = perTick * ticks;
      await waitFor('the streamed jobs to complete', () => completions.count >= from + streamed, 120_000, 10);
      const lat = completions.latencies(from);
      stream = {
        rate: plan.streamRate,
        seconds: plan.streamSeconds,
        jobs: streamed,
        p50Ms: quantile(lat, 0.5),
        p90Ms: quantile(lat, 0.9),
        p99Ms: quantile(lat, 0.99),
        maxMs: quantile(lat, 1),
      };
      log(
        `stream ${plan.streamRate}/s: p50 ${stream.p50Ms.toFixed(1)} ms, p99 ${stream.p99Ms.toFixed(1)} ms`,
      );
    }
    await Promise.all(children.map((c) => c.stop()));
    const order = completions.check(seq.counts());
    const delta = statsDelta(before, after);
    const calls = delta.reduce((a, d) => a + d.calls, 0);
    const usec = delta.reduce((a, d) => a + d.usec, 0);
    const procs = children.map((c) => closed.get(c));
    return {
      label: variant.label,
      system: variant.system,
      variant,
      jobs: plan.jobs,
      drainSeconds,
      jobsPerSec: plan.jobs / drainSeconds,
      prefillJobsPerSec: plan.jobs / prefillSeconds,
      leaseSettleSeconds,
      stream,
      order,
      localViolations: procs.reduce((a, m) => a + Number(m?.violations ?? 0), 0),
      redisPerJob: {
        calls: calls / plan.jobs,
        usec: usec / plan.jobs,
        top: delta
          .slice(0, 20)
          .map((d) => ({ cmd: d.cmd, calls: d.calls / plan.jobs, usec: d.usec / plan.jobs })),
      },
      sentPerJob: {
        total: sentTotal / plan.jobs,
        byCommand: Object.fromEntries(
          Object.entries(sent)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 10)
            .map(([k, v]) => [k, v / plan.jobs]),
        ),
      },
      consumerCpuMsPer1000: (cpuMs / plan.jobs) * 1000,
      redisCpuMsPer1000: ((redisCpu * 1000) / plan.jobs) * 1000,
      usedMemoryMiB,
      processes: procs.map((m) => ({
        cpuMs: Number(m?.cpuMs ?? Number.NaN),
        rssMiB: Number(m?.rssMiB ?? Number.NaN),
        processed: Number(m?.processed ?? 0),
        errors: (m?.errors as string[] | undefined) ?? [],
      })),
      loadavg: { before: loadBefore, after: loadNow() },
    };
  } finally {
    await sut.tearDown().catch((error: unknown) => log(`tear-down: ${(error as Error).message}`));
  }
}
