/**
 * What open dashboard pages cost: Redis commands and Postgres queries per second with 1, 10 and 100
 * open pages (event streams, each read and discarded like a browser would) on a lease of 128
 * partitions with BullMQ queues, measured over `--seconds` per step. Every page shares one poll, so
 * the numbers should not grow with the pages.
 *
 *   npx tsx bench/dashboard-pages.ts [--seconds=10] [--partitions=128]
 *
 * Counts only the dashboard's own traffic: Redis commands through its ioredis connection (ioredis'
 * sendCommand, pipelined commands one each) and statements through its pg.Pool (`query` on every client the
 * pool connects: `pool.query` goes through one too). No lease client runs: the ownership rows are written once.
 */
import http from 'node:http';

import { Redis } from 'ioredis';
import pg from 'pg';

import { PartitionedQueue } from '../src/bullmq/index.js';
import { createDashboard } from '../src/dashboard/index.js';
import { toDbPort } from '../src/lease/db.js';
import { migrate } from '../src/lease/migrate.js';
import { installCommandCounter, totalCommands } from './lib/count-commands.js';

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const SECONDS = arg('seconds', 10);
const SIZE = arg('partitions', 128);
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const schema = `bench_dash_${process.pid}`;
const prefix = `bench-dash-${process.pid}`;

installCommandCounter();
let queries = 0;
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
pool.on('connect', (client) => {
  const q = client.query.bind(client) as (...a: unknown[]) => unknown;
  (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
    queries++;
    return q(...a);
  };
});

const setupRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const dashRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });

async function setup(): Promise<void> {
  await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
  const t = (n: string) => `"${schema}"."db_leases_${n}"`;
  await pool.query(`INSERT INTO ${t('leases')} (lease_name, size) VALUES ('orders', ${SIZE})`);
  await pool.query(
    `INSERT INTO ${t('clients')} (client_id, instance, expires_at, heartbeat_at, state, info) VALUES
       ('worker-1', 'i1', clock_timestamp() + interval '1 hour', clock_timestamp(), 'live', '{}'),
       ('worker-2', 'i2', clock_timestamp() + interval '1 hour', clock_timestamp(), 'live', '{}')`,
  );
  await pool.query(
    `INSERT INTO ${t('members')} (lease_name, client_id) VALUES ('orders', 'worker-1'), ('orders', 'worker-2')`,
  );
  await pool.query(
    `INSERT INTO ${t('partitions')} (lease_name, partition, owner, epoch, owned_since)
     SELECT 'orders', p, CASE WHEN p % 2 = 0 THEN 'worker-1' ELSE 'worker-2' END, 1, clock_timestamp()
     FROM generate_series(0, ${SIZE - 1}) p`,
  );
  // A few waiting jobs per partition (nobody processes them), so every read has something to read.
  const queue = new PartitionedQueue('orders', { partitions: SIZE, connection: setupRedis, prefix });
  await queue.addBulk(
    Array.from({ length: SIZE * 3 }, (_, i) => ({
      name: 'job',
      data: { i },
      opts: { partitionKey: `k${i}` },
    })),
  );
  await queue.close();
}

async function cleanup(): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await setupRedis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await setupRedis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

function openPage(port: number): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events' }, (res) => {
      res.resume(); // read and discard, like a browser that keeps up
      resolve(req);
    });
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  await setup();
  const dashboard = createDashboard({ db: pool, schema, connection: dashRedis, prefix, maxStreams: 100 });
  const { port } = await dashboard.listen(0);
  const rows: string[] = [];
  try {
    let open: http.ClientRequest[] = [];
    for (const pages of [1, 10, 100]) {
      while (open.length < pages) open.push(await openPage(port));
      // Let the new pages' first reads pass, then measure a steady stretch.
      await new Promise((r) => setTimeout(r, 1500));
      const c0 = totalCommands();
      const q0 = queries;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      const s = (performance.now() - t0) / 1000;
      rows.push(
        `| ${pages} | ${((totalCommands() - c0) / s).toFixed(0)} | ${((queries - q0) / s).toFixed(1)} |`,
      );
      process.stderr.write(`${rows[rows.length - 1]}\n`);
    }
    open.forEach((r) => r.destroy());
    open = [];
  } finally {
    await dashboard.close();
    await cleanup();
    setupRedis.disconnect();
    dashRedis.disconnect();
    await pool.end();
  }
  console.log(
    `Dashboard cost, ${SIZE} partitions, ${SECONDS} s per step (defaults: pollInterval 300 ms, ops sample 1 s)\n`,
  );
  console.log('| open pages | Redis commands/s | Postgres queries/s |\n| ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
}

await main();
