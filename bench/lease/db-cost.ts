/**
 * Scenario 4: what a steady-state heartbeat costs the database. N clients in this process share one pool
 * (notify off, so no LISTEN connection each); once the split is balanced, the deltas of the bench
 * database's own counters (pg_stat_database.xact_commit: every autocommit statement is one transaction;
 * pg_stat_user_tables inserts/updates/deletes of the lease tables) over a window are divided by the
 * heartbeats the clients reported in it. A backend flushes its counters at most once a second, and an idle
 * one only after 10 s (Postgres 15), so before each reading every pool connection (and the reader) calls
 * pg_stat_force_next_flush(); what one flush-and-read adds by itself is measured first and subtracted.
 */
import pg from 'pg';

import { createClient, type LeaseClient, type LeaseHandle, migrate, toDbPort } from '../../src/index.js';
import { sleep, until } from './common.js';

export interface CostRun {
  clients: number;
  partitions: number;
  ttl: number;
  heartbeat: number;
  windowMs: number;
  convergeMs: number;
  heartbeats: number;
  statementsPerHeartbeat: number;
  rowsWrittenPerHeartbeat: number;
  hotUpdateShare: number;
}

interface Counters {
  xact: number;
  ins: number;
  upd: number;
  del: number;
  hot: number;
}

const POOL_SIZE = 8;

/** Makes every pool connection flush its pending counters now (adds POOL_SIZE transactions). */
async function flushPool(pool: pg.Pool): Promise<void> {
  const conns = await Promise.all(Array.from({ length: POOL_SIZE }, () => pool.connect()));
  try {
    await Promise.all(conns.map((c) => c.query('SELECT pg_stat_force_next_flush()')));
  } finally {
    for (const c of conns) c.release();
  }
}

async function counters(stats: pg.Client, schema: string): Promise<Counters> {
  // One statement, flushed at once, so the reader adds exactly one transaction of its own per reading.
  const r = await stats.query<{ [K in keyof Counters]: string }>(
    `SELECT pg_stat_force_next_flush(), (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS xact,
            sum(n_tup_ins) AS ins, sum(n_tup_upd) AS upd, sum(n_tup_del) AS del, sum(n_tup_hot_upd) AS hot
     FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
  );
  const row = r.rows[0]!;
  return {
    xact: Number(row.xact),
    ins: Number(row.ins),
    upd: Number(row.upd),
    del: Number(row.del),
    hot: Number(row.hot),
  };
}

export async function dbCost(
  url: string,
  o: { clients: number; partitions: number; ttl: number; heartbeat: number; windowMs: number },
): Promise<CostRun> {
  const schema = `bench_cost_${o.clients}_${o.partitions}`;
  // Idle connections stay open: a new backend's start-up would add transactions of its own to the count.
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, idleTimeoutMillis: 0 });
  pool.on('error', () => {});
  const stats = new pg.Client({ connectionString: url });
  stats.on('error', () => {});
  await stats.connect();
  await stats.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
  const clients: LeaseClient[] = [];
  const leases: LeaseHandle[] = [];
  let measuring = false;
  let heartbeats = 0;
  try {
    const started = performance.now();
    for (let i = 0; i < o.clients; i++) {
      const c = await createClient(pool, `k${i}`, {
        schema,
        ttl: o.ttl,
        heartbeat: o.heartbeat,
        notify: false,
        migrationTimeout: 30_000,
      });
      c.on('error', () => {});
      c.on('heartbeat', ({ ok }) => {
        if (measuring && ok) heartbeats++;
      });
      clients.push(c);
      leases.push(c.lease('cost', o.partitions));
    }
    const isBalanced = () => {
      const counts = leases.map((l) => l.values().length);
      return (
        counts.reduce((a, b) => a + b, 0) === o.partitions && Math.max(...counts) - Math.min(...counts) <= 1
      );
    };
    if (!(await until(isBalanced, 120_000)))
      throw new Error(`${o.clients} clients × ${o.partitions} partitions never balanced`);
    const convergeMs = performance.now() - started;
    await sleep(o.heartbeat + 500); // let the last releases and claims land

    // Calibrate: what one flush-and-read adds by itself (minus any heartbeat that ran meanwhile).
    await flushPool(pool);
    const c0 = await counters(stats, schema);
    measuring = true;
    await flushPool(pool);
    const c1 = await counters(stats, schema);
    const overhead = c1.xact - c0.xact - heartbeats;
    heartbeats = 0;
    const a = c1;
    await sleep(o.windowMs);
    measuring = false;
    await flushPool(pool);
    const b = await counters(stats, schema);
    if (!isBalanced()) throw new Error('the split changed during the measurement window');
    const written = b.ins - a.ins + (b.upd - a.upd) + (b.del - a.del);
    return {
      clients: o.clients,
      partitions: o.partitions,
      ttl: o.ttl,
      heartbeat: o.heartbeat,
      windowMs: o.windowMs,
      convergeMs: Math.round(convergeMs),
      heartbeats,
      statementsPerHeartbeat: (b.xact - a.xact - overhead) / heartbeats,
      rowsWrittenPerHeartbeat: written / heartbeats,
      hotUpdateShare: b.upd - a.upd > 0 ? (b.hot - a.hot) / (b.upd - a.upd) : 0,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await stats.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await stats.end();
    await pool.end();
  }
}
