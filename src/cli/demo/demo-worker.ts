/**
 * A demo worker process (worker-core.ts on a pg pool), reporting JSON lines on stdout. Its settings
 * come as JSON in DEMO_WORKER. SIGTERM closes gracefully; SIGINT is left to the parent (Ctrl-C reaches
 * the whole process group); the worker exits when its stdin closes, so a parent that dies leaves no
 * stray worker.
 */
import pg from 'pg';

import { now, type RunningWorker, startWorker, type WorkerConfig } from './worker-core.js';

const cfg = JSON.parse(process.env.DEMO_WORKER ?? '{}') as WorkerConfig;
const write = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

process.on('SIGINT', () => {});
process.stdin.on('end', () => process.exit(1)).resume();

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: 3,
  application_name: `dbleases-demo-${cfg.id}`,
});
pool.on('error', () => {});
let worker: RunningWorker;
try {
  worker = await startWorker(pool, cfg, write);
} catch (error) {
  write({ t: now(), type: 'fatal', message: error instanceof Error ? error.message : String(error) });
  process.exit(3);
}

process.once('SIGTERM', () => {
  const force = setTimeout(() => process.exit(4), 15_000);
  void worker.close().finally(async () => {
    await pool.end().catch(() => {});
    clearTimeout(force);
    process.exit(0);
  });
});
