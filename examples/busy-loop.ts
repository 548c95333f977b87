/**
 * The original library's usage: lease 16 partitions of `orders` and poll `values()` in a loop,
 * doing some work for each partition this process owns right now. `values()` is near free, so
 * calling it on every turn of the loop is the intended use. Start two or three of these and watch
 * them split the partitions; Ctrl-C one (graceful handover) or `kill -9` it (taken over after the ttl).
 *
 *   npx tsx examples/busy-loop.ts worker-a
 *   npx tsx examples/busy-loop.ts worker-b
 */
import { createClient } from 'dbleases';
import pg from 'pg';

const id = process.argv[2] ?? `busy-loop-${process.pid}`;
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
});
pool.on('error', (error) => console.error(`${id} idle connection error: ${error.message}`));

const client = await createClient(pool, id, {
  schema: process.env.DBLEASES_SCHEMA ?? 'public',
  ttl: Number(process.env.DBLEASES_TTL ?? 6_000),
  heartbeat: Number(process.env.DBLEASES_HEARTBEAT ?? 2_000),
});
client.on('error', (error) => console.error(`${id} lease error: ${error.message}`));
const lease = client.lease('orders', 16);
console.log(`${id} started, waiting for partitions`);

let running = true;
const stop = (signal: string) => {
  if (!running) return;
  running = false;
  console.log(`${id} ${signal}: closing (hands the partitions over)`);
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

const work = (partition: number) => new Promise((resolve) => setTimeout(resolve, 5 + (partition % 3)));

let last = '';
let done = 0;
let reportedAt = performance.now();
while (running) {
  const values = lease.values();
  const key = values.join(',');
  if (key !== last) {
    last = key;
    console.log(`${id} owns ${values.length} partitions: [${key}] (${done} units of work so far)`);
  }
  if (performance.now() - reportedAt >= 2_000) {
    reportedAt = performance.now();
    console.log(`${id} progress: ${done} units of work so far`);
  }
  if (values.length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 50)); // nothing owned: do not spin
    continue;
  }
  for (const partition of values) {
    // Re-check before each unit: ownership may have ended (rebalance, or the lease was lost).
    if (!running || !lease.has(partition)) break;
    await work(partition);
    done++;
  }
}

await client.close();
await pool.end();
console.log(`${id} closed after ${done} units of work`);
