/**
 * A lease-only worker (no BullMQ), used by bench/lease/timings.ts through DemoWorker: a lease client in its own process. It samples `values()` in a busy loop, as users of
 * the original library do, and prints JSON lines on stdout: `ready`, `values` (on change and every 25 ms,
 * so the parent knows the last instant each partition was still listed), `closed`, `error`, `fatal`.
 * SIGTERM closes gracefully; SIGINT is left to the parent (Ctrl-C reaches the whole process group);
 * the worker exits when its stdin closes, so a parent that dies leaves no stray worker.
 */
import pg from 'pg';

import { createClient } from '../../index.js';

const env = process.env;
const now = () => performance.timeOrigin + performance.now();
const out = (type: string, data: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ t: now(), type, ...data })}\n`);

process.on('SIGINT', () => {});
process.stdin.on('end', () => process.exit(1)).resume();

const pool = new pg.Pool({
  connectionString: env.DATABASE_URL,
  max: 3,
  application_name: `dbleases-demo-${env.DEMO_ID}`,
});
pool.on('error', () => {});
const client = await createClient(pool, env.DEMO_ID!, {
  schema: env.DEMO_SCHEMA!,
  ttl: Number(env.DEMO_TTL),
  heartbeat: Number(env.DEMO_HEARTBEAT),
  info: { role: 'demo-worker' },
}).catch((error: Error) => {
  out('fatal', { message: error.message });
  process.exit(3);
});
client.on('error', (e) => out('error', { message: e.message }));
const lease = client.lease('demo', Number(env.DEMO_PARTITIONS));
await lease.ready();
out('ready', { pid: process.pid });

let last = '';
let printedAt = 0;
const sample = setInterval(() => {
  const values = lease.values();
  const key = values.join(',');
  if (key !== last || now() - printedAt >= 25) {
    last = key;
    printedAt = now();
    out('values', { values, epochs: values.map((p) => lease.epoch(p)) });
  }
}, 5);

process.once('SIGTERM', () => {
  void client.close().then(async () => {
    clearInterval(sample);
    out('values', { values: lease.values(), epochs: [] });
    out('closed');
    await pool.end();
    process.exit(0);
  });
});
