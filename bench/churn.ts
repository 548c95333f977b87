/**
 * Scenario 6: throughput under churn. Two PartitionedWorker processes (32 partitions, lease ttl
 * 2 s / heartbeat 500 ms, the options of scenario 1) consume a fixed-rate stream over 1000 keys; one
 * process is SIGKILLed mid-stream, later a new process joins. Completions, enqueues, backlog and
 * latency in 1 s buckets; the dip (lowest completions/s after the kill, as a share of the rate) and
 * the recovery time (kill → backlog back to its pre-kill level, i.e. every delayed job done), the
 * same for the join; order violations and duplicates across the whole run.
 */
import { pathToFileURL } from 'node:url';

import type { BenchChild, Message } from './lib/child.js';
import {
  fmt,
  now,
  quantile,
  type RunOptions,
  type ScenarioResult,
  sleep,
  table,
  waitFor,
} from './lib/common.js';
import { loadNow } from './lib/machine.js';
import { SystemUnderTest, type Variant } from './lib/systems.js';
import { Completions, KeySequence } from './lib/throughput.js';
import { JOB_OPTIONS, LEASE } from './ordered-throughput.js';

export async function run(
  opts: RunOptions,
  workerOptions: Record<string, unknown> = {},
): Promise<ScenarioResult> {
  const plan = opts.quick
    ? { rate: 400, seconds: 7, killAt: 2, joinAt: 4, partitions: 32, keys: 1000 }
    : { rate: 800, seconds: 30, killAt: 8, joinAt: 18, partitions: 32, keys: 1000 };
  const variant: Variant = {
    label: `dbleases churn, ${plan.partitions} partitions`,
    system: 'dbleases',
    partitions: plan.partitions,
    concurrency: 1,
    workerOptions,
    jobOptions: JOB_OPTIONS,
    ...LEASE,
  };
  const sut = new SystemUnderTest(variant, plan.keys);
  const completions = new Completions();
  const counts = new Map<BenchChild, number>();
  const ownership: Array<{ t: number; child: string; n: number }> = [];
  let lastRec = performance.now();
  const onMessage = (msg: Message, child: BenchChild) => {
    if (msg.type === 'done') {
      completions.add(msg.recs as number[]);
      lastRec = performance.now();
    } else if (msg.type === 'partitions') {
      counts.set(child, msg.n as number);
      ownership.push({ t: msg.at as number, child: child.label, n: msg.n as number });
    }
  };
  const enqueued: number[] = []; // enqueue times
  const loadBefore = loadNow();
  try {
    await sut.setUp();
    const seq = new KeySequence(plan.keys);
    const a = await sut.spawn(onMessage);
    const b = await sut.spawn(onMessage);
    await sut.waitBalanced(counts, [a, b], 60_000);
    const t0 = now();
    const tickMs = 20;
    const perTick = Math.max(1, Math.round((plan.rate * tickMs) / 1000));
    const ticks = Math.round((plan.seconds * 1000) / tickMs);
    const start = performance.now();
    const pending: Array<Promise<void>> = [];
    let killedAt = Number.NaN;
    let joinedAt = Number.NaN;
    let joinReadyAt = Number.NaN;
    let joiner: Promise<BenchChild> | undefined;
    for (let i = 0; i < ticks; i++) {
      const due = start + i * tickMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const elapsed = (performance.now() - start) / 1000;
      if (Number.isNaN(killedAt) && elapsed >= plan.killAt) {
        a.kill('SIGKILL');
        killedAt = now();
        opts.log(`[churn] SIGKILL ${a.label} at ${elapsed.toFixed(1)} s`);
      }
      if (joiner === undefined && elapsed >= plan.joinAt) {
        joinedAt = now();
        opts.log(`[churn] starting a new worker at ${elapsed.toFixed(1)} s`);
        joiner = sut.spawn(onMessage).then((c) => {
          joinReadyAt = now();
          return c;
        });
      }
      const t = now();
      for (let j = 0; j < perTick; j++) enqueued.push(t);
      pending.push(sut.add(seq.next(perTick), t));
    }
    await Promise.all(pending);
    const c = await joiner!;
    // The killed process's last unreported completions never arrive: wait for Redis to drain instead.
    await waitFor('the partition queues to drain', async () => (await sut.pending()) === 0, 120_000, 200);
    await waitFor('the last completion reports', () => performance.now() - lastRec > 500, 10_000, 100);
    const end = now();
    await Promise.all([b, c].map((x) => x.stop()));

    // 1 s buckets from t0.
    const buckets: Array<{
      second: number;
      enqueued: number;
      completed: number;
      backlog: number;
      p99Ms: number;
    }> = [];
    const times = completions.times();
    const recs = completions.data;
    const bucketCount = Math.ceil((end - t0) / 1000);
    const lat: number[][] = Array.from({ length: bucketCount }, () => []);
    for (let i = 0; i < completions.count; i++) {
      const bIdx = Math.floor((recs[i * 4 + 3]! - t0) / 1000);
      if (bIdx >= 0 && bIdx < bucketCount) lat[bIdx]!.push(recs[i * 4 + 3]! - recs[i * 4 + 2]!);
    }
    let e = 0;
    let d = 0;
    for (let s = 0; s < bucketCount; s++) {
      const to = t0 + (s + 1) * 1000;
      const e0 = e;
      const d0 = d;
      while (e < enqueued.length && enqueued[e]! < to) e++;
      while (d < times.length && times[d]! < to) d++;
      const l = lat[s]!.sort((x, y) => x - y);
      buckets.push({
        second: s + 1,
        enqueued: e - e0,
        completed: d - d0,
        backlog: e - d,
        p99Ms: quantile(l, 0.99),
      });
    }
    // Backlog at 100 ms resolution for recovery times.
    const backlogAt = (t: number) => {
      let lo = 0;
      let hi = enqueued.length;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (enqueued[m]! < t) lo = m + 1;
        else hi = m;
      }
      let lo2 = 0;
      let hi2 = times.length;
      while (lo2 < hi2) {
        const m = (lo2 + hi2) >> 1;
        if (times[m]! < t) lo2 = m + 1;
        else hi2 = m;
      }
      return lo - lo2;
    };
    const baselineSamples: number[] = [];
    for (let t = t0 + 1000; t < killedAt; t += 100) baselineSamples.push(backlogAt(t));
    const baseline = baselineSamples.reduce((x, y) => x + y, 0) / Math.max(1, baselineSamples.length);
    const threshold = baseline + plan.rate * 0.1; // within 100 ms of work of the steady backlog
    const recovery = (from: number, until: number) => {
      let peak = 0;
      let peakAt = from;
      for (let t = from; t < until; t += 100) {
        const b = backlogAt(t);
        if (b > peak) {
          peak = b;
          peakAt = t;
        }
      }
      for (let t = peakAt; t < until; t += 100)
        if (backlogAt(t) <= threshold) return { seconds: (t - from) / 1000, peakBacklog: peak };
      return { seconds: Number.NaN, peakBacklog: peak };
    };
    const kill = recovery(killedAt, Number.isNaN(joinedAt) ? end : joinedAt);
    const join = recovery(joinedAt, end);
    const killBucket = Math.floor((killedAt - t0) / 1000);
    const joinBucket = Math.floor((joinedAt - t0) / 1000);
    // Lowest full bucket after the event, while the stream still ran (the bucket holding the event is partial).
    const streamBuckets = Math.floor(plan.seconds);
    const dipAfter = (from: number, to: number) =>
      Math.min(
        ...buckets.slice(from, Math.max(from + 1, Math.min(to, streamBuckets))).map((x) => x.completed),
      );
    const killDip = dipAfter(killBucket, joinBucket);
    const joinDip = dipAfter(joinBucket, joinBucket + 6);
    const order = completions.check(seq.counts());
    const firstTakeover = ownership.find(
      (o) => o.child === b.label && o.t > killedAt && o.n === plan.partitions,
    );
    const joinerShare = ownership.find(
      (o) => o.child === c.label && o.t > joinedAt && o.n >= Math.floor(plan.partitions / 2),
    );
    opts.log(
      `[churn] kill: dip ${killDip}/s, recovered in ${fmt(kill.seconds)} s; join: dip ${joinDip}/s, recovered in ${fmt(join.seconds)} s`,
    );
    const summary = table(
      [
        'event',
        'lowest completions/s after it',
        'as share of the rate',
        'peak backlog',
        'recovery (backlog back to steady)',
        'ownership',
      ],
      [
        [
          'SIGKILL one of two workers',
          killDip,
          `${fmt((killDip / plan.rate) * 100)} %`,
          kill.peakBacklog,
          `${fmt(kill.seconds)} s`,
          firstTakeover
            ? `survivor owned all ${plan.partitions} after ${fmt((firstTakeover.t - killedAt) / 1000)} s`
            : '–',
        ],
        [
          'a new worker joins',
          joinDip,
          `${fmt((joinDip / plan.rate) * 100)} %`,
          join.peakBacklog,
          `${fmt(join.seconds)} s`,
          joinerShare
            ? `joiner owned its half ${fmt((joinerShare.t - joinedAt) / 1000)} s after spawn (${fmt((joinReadyAt - joinedAt) / 1000)} s of it process start)`
            : '–',
        ],
      ],
    );
    const timeline = table(
      ['second', 'enqueued', 'completed', 'backlog', 'p99 latency ms', ''],
      buckets.map((x, i) => [
        x.second,
        x.enqueued,
        x.completed,
        x.backlog,
        fmt(x.p99Ms),
        i === killBucket ? 'SIGKILL' : i === joinBucket ? 'join' : '',
      ]),
    );
    return {
      scenario: 'churn',
      title: `Scenario 6 — throughput under churn: ${plan.rate} jobs/s for ${plan.seconds} s, SIGKILL at ${plan.killAt} s, join at ${plan.joinAt} s`,
      method: [
        `dbleases PartitionedWorker, ${plan.partitions} partitions, lease ttl ${LEASE.ttl} ms / heartbeat ${LEASE.heartbeat} ms, job options ${JSON.stringify(JOB_OPTIONS)}, worker options ${JSON.stringify(workerOptions)}.`,
        'Recovery = from the event until the backlog (enqueued − completed) is back within 100 ms of work of its pre-kill average. The backlog column keeps counting the jobs the killed process completed but had not reported yet (see below), so it settles that much higher after the kill.',
        `Order across the run: ${order.violations} violations, ${order.duplicates} duplicates (at-least-once: the killed process's in-flight job runs again), ${order.missing} unreported (completed by the killed process in its last report interval).`,
      ],
      tables: [summary, timeline],
      data: {
        plan,
        lease: LEASE,
        baselineBacklog: baseline,
        kill,
        join,
        killDip,
        joinDip,
        order,
        buckets,
        ownership: ownership.map((o) => ({ ...o, t: o.t - t0 })),
        loadavg: { before: loadBefore, after: loadNow() },
      },
    };
  } finally {
    await sut.tearDown();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await run({
    quick: process.argv.includes('--quick'),
    log: (m) => process.stderr.write(`${m}\n`),
  });
  for (const line of r.method) process.stdout.write(`- ${line}\n`);
  for (const t of r.tables) process.stdout.write(`\n${t}\n`);
}
