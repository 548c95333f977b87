/**
 * Scenario 5: scale.
 *
 * a) Lease: 100 clients (quick: 10) in one process, one pg.Pool, one lease of 4096 partitions (quick:
 *    512). Time from cold start (first createClient) until every partition is owned by exactly one
 *    client and counts differ by at most 1; then 10 % of the clients crash and the time until the
 *    survivors are balanced again. A crash is simulated in-process: the client's database port starts
 *    failing every statement, so it never heartbeats or leaves again (as a SIGKILLed process), while
 *    the others share the same pool. The cold start is run twice: with NOTIFY (the default; clients on
 *    the pool share one LISTEN connection) and without (the crashable facades cannot share it).
 *
 * b) Queues: 1024 partition queues (quick: 128) served by two processes (a PartitionedWorker each,
 *    idle, the lease's defaults), once they split the partitions: Redis sockets per process (from
 *    /proc) and in CLIENT LIST, Redis commands each process sends per second while idle (counted in
 *    ioredis over 60 s = one drainDelay, quick 5 s) and the server-wide INFO commandstats delta, RSS
 *    and heap; then again with the previous defaults, drainDelay 5 s and stalledInterval 6 s (10 s).
 */
import { pathToFileURL } from 'node:url';

import { createClient, type LeaseClient, migrate, toDbPort } from 'dbleases';
import { Redis } from 'ioredis';
import pg from 'pg';

import { BenchChild, type Message } from './lib/child.js';
import {
  commandStats,
  DATABASE_URL,
  deleteKeys,
  fmt,
  REDIS_URL,
  type RunOptions,
  type ScenarioResult,
  sleep,
  statsDelta,
  table,
  uniqueName,
  waitFor,
} from './lib/common.js';
import { loadNow } from './lib/machine.js';
import type { ScaleWorkerConfig } from './scale-worker.js';

interface Crashable {
  port: { query: pg.Pool['query']; connect: pg.Pool['connect']; readonly totalCount: number };
  crash(): void;
}

/** A pool facade that fails every statement once crashed (the shared pool itself stays up). */
function crashable(pool: pg.Pool): Crashable {
  let dead = false;
  const fail = () => Promise.reject(new Error('simulated crash'));
  return {
    port: {
      query: ((text: string, values?: unknown[]) =>
        dead ? fail() : pool.query(text, values)) as pg.Pool['query'],
      connect: (() => (dead ? fail() : pool.connect())) as pg.Pool['connect'],
      // toDbPort recognises a pool by this (a pg.Client has query/connect too).
      get totalCount() {
        return pool.totalCount;
      },
    },
    crash: () => {
      dead = true;
    },
  };
}

interface Balance {
  owned: number;
  overlaps: number;
  min: number;
  max: number;
}

function balance(clients: LeaseClient[], name: string, size: number): Balance {
  const seen = new Uint8Array(size);
  let overlaps = 0;
  let owned = 0;
  let min = Infinity;
  let max = 0;
  for (const c of clients) {
    const values = c.lease(name, size).values();
    min = Math.min(min, values.length);
    max = Math.max(max, values.length);
    for (const v of values) {
      if (seen[v]) overlaps++;
      else {
        seen[v] = 1;
        owned++;
      }
    }
  }
  return { owned, overlaps, min, max };
}

const balanced = (b: Balance, size: number) => b.owned === size && b.overlaps === 0 && b.max - b.min <= 1;

/**
 * `notify: true` (the default): every client on the shared pool itself (they share one LISTEN
 * connection), cold start only. `notify: false`: every client behind its own crashable facade of the
 * pool (a facade cannot share the pool's LISTEN connection, and 100 LISTEN connections do not fit
 * Postgres' max_connections), cold start and then the crash of 10 %.
 */
async function leaseScale(opts: RunOptions, notify: boolean) {
  const clientsN = opts.quick ? 10 : 100;
  const size = opts.quick ? 512 : 4096;
  const ttl = opts.quick ? 2_000 : 6_000;
  const heartbeat = opts.quick ? 500 : 2_000;
  const crashN = Math.max(1, Math.round(clientsN / 10));
  const schema = uniqueName('bscale');
  const name = 'scale';
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 20 });
  pool.on('error', () => {});
  const errors = new Map<string, number>();
  let overlapSeen = 0;
  try {
    await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
    const facades = Array.from({ length: clientsN }, () => crashable(pool));
    const start = performance.now();
    const clients = await Promise.all(
      facades.map(async (f, i) => {
        const c = await createClient(notify ? pool : f.port, `scale-${i}`, {
          schema,
          ttl,
          heartbeat,
          notify,
        });
        c.on('error', (e) =>
          errors.set(e.message.slice(0, 80), (errors.get(e.message.slice(0, 80)) ?? 0) + 1),
        );
        c.lease(name, size);
        return c;
      }),
    );
    const registeredS = (performance.now() - start) / 1000;
    opts.log(`[scale] ${clientsN} clients registered in ${registeredS.toFixed(1)} s`);
    let allOwnedS: number | undefined;
    const wait = async (live: LeaseClient[], from: number, what: string) =>
      waitFor(
        what,
        () => {
          const b = balance(live, name, size);
          overlapSeen = Math.max(overlapSeen, b.overlaps);
          if (allOwnedS === undefined && b.owned === size && b.overlaps === 0)
            allOwnedS = (performance.now() - from) / 1000;
          return balanced(b, size) ? b : undefined;
        },
        180_000,
        25,
      );
    const cold = await wait(clients, start, 'cold start balance');
    const coldS = (performance.now() - start) / 1000;
    const coldAllOwned = allOwnedS;
    opts.log(
      `[scale] notify ${notify}: cold start: all owned after ${coldAllOwned?.toFixed(1)} s, balanced (${cold.min}–${cold.max}) after ${coldS.toFixed(1)} s`,
    );
    // Hold for two heartbeats: still balanced?
    await sleep(2 * heartbeat);
    const stable = balanced(balance(clients, name, size), size);
    const common = {
      notify,
      clients: clientsN,
      partitions: size,
      ttl,
      heartbeat,
      registeredSeconds: registeredS,
      cold: {
        allOwnedSeconds: coldAllOwned,
        balancedSeconds: coldS,
        min: cold.min,
        max: cold.max,
        stableTwoHeartbeatsLater: stable,
      },
    };
    if (notify) {
      await Promise.all(clients.map((c) => c.close()));
      return {
        ...common,
        crashed: 0,
        crash: undefined,
        overlapsSeen: overlapSeen,
        errors: Object.fromEntries(errors),
      };
    }

    const crashAt = performance.now();
    allOwnedS = undefined;
    for (let i = 0; i < crashN; i++) facades[i]!.crash();
    const live = clients.slice(crashN);
    const after = await wait(live, crashAt, 'balance after the crash');
    const crashS = (performance.now() - crashAt) / 1000;
    opts.log(
      `[scale] after ${crashN} crashes: all owned after ${allOwnedS!.toFixed(1)} s, balanced (${after.min}–${after.max}) after ${crashS.toFixed(1)} s`,
    );
    const crashAllOwned = allOwnedS;
    await Promise.all(live.map((c) => c.close()));
    return {
      ...common,
      crashed: crashN,
      crash: { allOwnedSeconds: crashAllOwned, balancedSeconds: crashS, min: after.min, max: after.max },
      overlapsSeen: overlapSeen,
      errors: Object.fromEntries(errors),
    };
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

/** The idle settings the adapter had before bench/FINDINGS.md (BullMQ's drainDelay, stalledInterval = ttl), measured next to the current defaults. */
export const IDLE_BEFORE = { drainDelay: 5, stalledInterval: 6_000 } as const;

async function queueScale(opts: RunOptions, workerOptions: Record<string, unknown>, seconds: number) {
  const partitions = opts.quick ? 128 : 1024;
  const processes = 2;
  const schema = uniqueName('bscaleq');
  const name = schema;
  const prefix = `bench-${schema}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  const children: BenchChild[] = [];
  try {
    await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
    const counts = new Map<BenchChild, number>();
    const clientsBefore = String(await redis.client('LIST'))
      .split('\n')
      .filter(Boolean).length;
    const start = performance.now();
    for (let i = 0; i < processes; i++) {
      const cfg: ScaleWorkerConfig = {
        id: `q${i}-${schema}`,
        name,
        prefix,
        schema,
        partitions,
        ttl: 6_000,
        heartbeat: 2_000,
        workerOptions,
      };
      const child = new BenchChild('scale-worker.ts', `scale worker ${i}`, {
        BENCH_SCALE: JSON.stringify(cfg),
      });
      child.on((msg: Message) => {
        if (msg.type === 'partitions') counts.set(child, msg.n as number);
      });
      children.push(child);
    }
    await Promise.all(children.map((c) => c.next('ready', 60_000)));
    await waitFor(
      'the queue workers to split the partitions',
      () => {
        const n = children.map((c) => counts.get(c) ?? 0);
        return n.reduce((a, b) => a + b, 0) === partitions && Math.max(...n) - Math.min(...n) <= 1;
      },
      180_000,
      50,
    );
    const splitS = (performance.now() - start) / 1000;
    opts.log(
      `[scale] ${partitions} partition queues split ${[...counts.values()].join('/')} after ${splitS.toFixed(1)} s`,
    );
    await sleep(2_000); // let start-up traffic settle
    const list = String(await redis.client('LIST'))
      .split('\n')
      .filter(Boolean);
    const ours = list.filter((l) => l.includes(` name=${prefix}:`)).length;
    const statsBefore = await commandStats(redis);
    const replies = await Promise.all(
      children.map((c) => {
        const r = c.next('measured', (seconds + 30) * 1000);
        c.send({ type: 'measure', seconds });
        return r;
      }),
    );
    const statsAfter = await commandStats(redis);
    const server = statsDelta(statsBefore, statsAfter);
    const perProcess = replies.map((r) => {
      const sent = r.sent as Record<string, number>;
      const total = Object.values(sent).reduce((a, b) => a + b, 0);
      return {
        partitions: r.partitions as number,
        redisSockets: r.redisSockets as number,
        pgSockets: r.pgSockets as number,
        commandsPerSec: total / seconds,
        byCommandPerSec: Object.fromEntries(
          Object.entries(sent)
            .slice(0, 6)
            .map(([k, v]) => [k, v / seconds]),
        ),
        cpuPercent: ((r.cpuMs as number) / (seconds * 1000)) * 100,
        rssMiB: r.rssMiB as number,
        heapMiB: r.heapMiB as number,
        errors: r.errors,
      };
    });
    return {
      workerOptions,
      partitions,
      processes,
      seconds,
      splitSeconds: splitS,
      clientListTotalBefore: clientsBefore,
      clientListTotalAfter: list.length,
      clientListNamedForQueues: ours,
      serverCommandsPerSec: server.reduce((a, d) => a + d.calls, 0) / seconds,
      serverTopPerSec: server.slice(0, 6).map((d) => ({ cmd: d.cmd, perSec: d.calls / seconds })),
      perProcess,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop(30_000)));
    await deleteKeys(redis, `${prefix}:*`);
    redis.disconnect();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

export async function run(opts: RunOptions): Promise<ScenarioResult> {
  const loadBefore = loadNow();
  const leaseNotify = await leaseScale(opts, true);
  const lease = await leaseScale(opts, false);
  // The window must cover a full drainDelay cycle (BZPOPMIN timeout), or an idle Worker may show no traffic.
  const queues = await queueScale(opts, {}, opts.quick ? 5 : 60);
  const before = await queueScale(opts, IDLE_BEFORE, opts.quick ? 5 : 10);
  const crash = lease.crash!;
  const leaseTable = table(
    ['phase', 'NOTIFY', 'all partitions owned', 'balanced (±1)', 'min–max per client'],
    [
      [
        `cold start, ${leaseNotify.clients} clients`,
        'on (default)',
        `${fmt(leaseNotify.cold.allOwnedSeconds)} s`,
        `${fmt(leaseNotify.cold.balancedSeconds)} s`,
        `${leaseNotify.cold.min}–${leaseNotify.cold.max}`,
      ],
      [
        `cold start, ${lease.clients} clients`,
        'off',
        `${fmt(lease.cold.allOwnedSeconds)} s`,
        `${fmt(lease.cold.balancedSeconds)} s`,
        `${lease.cold.min}–${lease.cold.max}`,
      ],
      [
        `${lease.crashed} of them crash`,
        'off',
        `${fmt(crash.allOwnedSeconds)} s`,
        `${fmt(crash.balancedSeconds)} s`,
        `${crash.min}–${crash.max}`,
      ],
    ],
  );
  const rows = [
    ...queues.perProcess.map((p, i) => ({
      p,
      label: `${i + 1}, adapter defaults (drainDelay 60 s, stalledInterval 30 s)`,
    })),
    ...before.perProcess.map((p, i) => ({
      p,
      label: `${i + 1}, drainDelay ${IDLE_BEFORE.drainDelay} s, stalledInterval ${IDLE_BEFORE.stalledInterval / 1000} s (previous defaults)`,
    })),
  ];
  const queueTable = table(
    [
      'process, options',
      'partitions',
      'Redis sockets (target ≤ partitions + 2)',
      'Postgres sockets',
      'idle Redis commands/s sent',
      'top idle commands/s',
      'idle CPU %',
      'RSS MiB',
      'heap MiB',
    ],
    rows.map(({ p, label }) => [
      label,
      p.partitions,
      `${p.redisSockets} (${p.redisSockets <= p.partitions + 2 ? 'within' : 'over'})`,
      p.pgSockets,
      fmt(p.commandsPerSec),
      Object.entries(p.byCommandPerSec)
        .slice(0, 3)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', '),
      fmt(p.cpuPercent, 2),
      fmt(p.rssMiB),
      fmt(p.heapMiB),
    ]),
  );
  return {
    scenario: 'scale',
    title: `Scenario 5 — scale: ${lease.clients} lease clients × ${lease.partitions} partitions in one process; ${queues.partitions} partition queues on ${queues.processes} processes`,
    method: [
      `Lease: ttl ${lease.ttl} ms, heartbeat ${lease.heartbeat} ms, one pg.Pool (max 20) shared by all clients. NOTIFY on: clients on the pool itself (one shared LISTEN connection), cold start only. NOTIFY off: each client behind a facade of the pool that can fail its statements: crash = the facade starts failing (no heartbeat, no leave, as after SIGKILL).`,
      `Balanced = every partition owned by exactly one client (in the clients' own view, values()) and max − min ≤ 1; checked every 25 ms. Overlaps seen: ${leaseNotify.overlapsSeen + lease.overlapsSeen}. Still balanced two heartbeats later: ${leaseNotify.cold.stableTwoHeartbeatsLater && lease.cold.stableTwoHeartbeatsLater}.`,
      `Queues: two PartitionedWorker processes, ${queues.partitions} partitions, lease defaults (ttl 6 s); first with the adapter's defaults (drainDelay 60 s, stalledInterval max(ttl, 30 s)), then with the previous ones ${JSON.stringify(IDLE_BEFORE)}; commands counted over ${queues.seconds} s (one drainDelay) / ${before.seconds} s once split (took ${fmt(queues.splitSeconds)} s / ${fmt(before.splitSeconds)} s).`,
      `Redis: CLIENT LIST had ${queues.clientListNamedForQueues} connections named for these queues (blocking Worker connections), ${queues.clientListTotalAfter} in all (${queues.clientListTotalBefore} before, shared Redis). Server-wide commands/s while idle: ${fmt(queues.serverCommandsPerSec)} (includes other clients).`,
    ],
    tables: [leaseTable, queueTable],
    data: {
      leaseNotify,
      lease,
      queues,
      queuesPreviousDefaults: before,
      loadavg: { before: loadBefore, after: loadNow() },
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await run({
    quick: process.argv.includes('--quick'),
    log: (m) => process.stderr.write(`${m}\n`),
  });
  for (const line of r.method) process.stdout.write(`- ${line}\n`);
  for (const t of r.tables) process.stdout.write(`\n${t}\n`);
}
