/**
 * Lease timings and database cost (issue 6, scenarios 3 and 4):
 *
 *   npx tsx bench/lease-timings.ts [--quick]
 *
 * Prints markdown tables (min / median / max) with the machine described and writes
 * bench/results/lease-timings.json. Runs in a database of its own (dropped at the end).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import pg from 'pg';

import { benchDatabase, fmt, machine, stat } from './lease/common.js';
import { type CostRun, dbCost } from './lease/db-cost.js';
import { leaseTimings, type TimingRun } from './lease/timings.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' } }, strict: true });
const quick = args.quick === true;
const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const log = (line: string) => console.log(line);
const began = performance.now();

const probe = new pg.Pool({ connectionString: baseUrl, max: 1, connectionTimeoutMillis: 5_000 });
let host: Record<string, string | number>;
try {
  host = await machine(probe);
} catch (error) {
  console.error(
    `No Postgres answered at ${baseUrl} (${(error as Error).message}): start one with \`docker compose up -d\``,
  );
  process.exit(1);
} finally {
  await probe.end();
}
log(
  `Machine: ${host.nproc} CPUs (${host.cpu}), Node ${host.node}, Postgres ${host.postgres}, ${host.date}${quick ? ' (--quick)' : ''}`,
);

const db = await benchDatabase(baseUrl, 'dbleases_bench');
const timings: TimingRun[] = [];
const costs: CostRun[] = [];
try {
  const settings = [
    { ttl: 6_000, heartbeat: 2_000, reps: quick ? 1 : 10 },
    { ttl: 1_000, heartbeat: 250, reps: quick ? 2 : 10 },
  ];
  for (const s of settings) {
    log(
      `\nLease timings, 4 clients × 128 partitions, ttl ${s.ttl} ms / heartbeat ${s.heartbeat} ms, ${s.reps} repetitions:`,
    );
    timings.push(await leaseTimings(db.url, { ...s, log }));
  }
  const sizes = quick
    ? [
        { clients: 10, partitions: 128 },
        { clients: 10, partitions: 4096 },
      ]
    : [
        { clients: 10, partitions: 128 },
        { clients: 10, partitions: 4096 },
        { clients: 100, partitions: 128 },
        { clients: 100, partitions: 4096 },
      ];
  for (const s of sizes) {
    log(
      `\nDatabase cost, ${s.clients} clients × ${s.partitions} partitions (one process, ttl 6000 / heartbeat 2000):`,
    );
    const r = await dbCost(db.url, { ...s, ttl: 6_000, heartbeat: 2_000, windowMs: quick ? 4_000 : 16_000 });
    log(
      `  ${r.heartbeats} heartbeats in ${r.windowMs / 1000} s: ${r.statementsPerHeartbeat.toFixed(2)} statements, ${r.rowsWrittenPerHeartbeat.toFixed(2)} rows written per heartbeat`,
    );
    costs.push(r);
  }
} finally {
  await db.drop();
}

const moveCell = (r: TimingRun, kind: 'crash' | 'leave' | 'join') => {
  const m = r.moves.filter((x) => x.kind === kind);
  const extra = m.filter((x) => x.moves > x.min).length;
  return `${fmt(stat(m.map((x) => x.moves)))} (minimum ${fmt(stat(m.map((x) => x.min)))}; above minimum ${extra}/${m.length})`;
};
const lines = [
  `Machine: ${host.nproc} CPUs (${host.cpu}), Node ${host.node}, Postgres ${host.postgres}; ${host.date}; \`npx tsx bench/lease-timings.ts${quick ? ' --quick' : ''}\``,
  '',
  '| 4 clients × 128 partitions | ttl 6000 / hb 2000 (defaults) | ttl 1000 / hb 250 (short) |',
  '|---|---|---|',
  `| crash failover, ms (SIGKILL → all owned again) | ${timings.map((r) => fmt(stat(r.failoverMs))).join(' | ')} |`,
  `| graceful handoff, ms (close → all owned again) | ${timings.map((r) => fmt(stat(r.handoffMs))).join(' | ')} |`,
  `| join → balanced ±1, ms (client ready → balanced) | ${timings.map((r) => fmt(stat(r.joinMs))).join(' | ')} |`,
  `| moves per crash | ${timings.map((r) => moveCell(r, 'crash')).join(' | ')} |`,
  `| moves per leave | ${timings.map((r) => moveCell(r, 'leave')).join(' | ')} |`,
  `| moves per join | ${timings.map((r) => moveCell(r, 'join')).join(' | ')} |`,
  `| overlapping ownership seen | ${timings.map((r) => r.overlaps).join(' | ')} |`,
  '',
  'min / median / max',
  '',
  '| clients × partitions | heartbeats measured | statements / heartbeat | rows written / heartbeat | HOT share of updates | cold start → balanced |',
  '|---|---|---|---|---|---|',
  ...costs.map(
    (c) =>
      `| ${c.clients} × ${c.partitions} | ${c.heartbeats} in ${c.windowMs / 1000} s | ${c.statementsPerHeartbeat.toFixed(2)} | ${c.rowsWrittenPerHeartbeat.toFixed(2)} | ${Math.round(c.hotUpdateShare * 100)} % | ${(c.convergeMs / 1000).toFixed(1)} s |`,
  ),
];
console.log(`\n${lines.join('\n')}\n\nTotal ${((performance.now() - began) / 1000).toFixed(0)} s`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL('./results/lease-timings.json', import.meta.url);
writeFileSync(file, `${JSON.stringify({ machine: host, quick, timings, costs }, null, 2)}\n`);
console.log(`Wrote ${file.pathname}`);
