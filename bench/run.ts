/**
 * Runs every benchmark scenario and prints a markdown table per scenario; writes
 * `bench/results/<scenario>.json` (machine, method, numbers).
 *
 *   npm run bench                 # full sizes (≤ 10 min on 2 cores)
 *   npm run bench -- --quick      # small sizes (≤ 2 min; CI runs it to keep the scripts working, never asserts timings)
 *   npm run bench -- --only=scale,churn
 *
 * Scenarios 3 and 4 (lease timings, database cost) live in `bench/lease-timings.ts`, run here as a
 * child process when the file exists. Each system uses its own Redis prefix / Postgres schema,
 * deleted before and after. Environment: DATABASE_URL, REDIS_URL (defaults: local Postgres and Redis).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as churn from './churn.js';
import * as enqueue from './enqueue.js';
import { BENCH_DIR, type RunOptions, type ScenarioResult, writeResult } from './lib/common.js';
import { describeMachine, loadNow, machineLine } from './lib/machine.js';
import * as ordered from './ordered-throughput.js';
import * as scale from './scale.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const log = (m: string) => process.stderr.write(`${m}\n`);
const opts: RunOptions = { quick, log };
const out = (text = '') => process.stdout.write(`${text}\n`);

const scenarios: Array<{ name: string; run: (o: RunOptions) => Promise<ScenarioResult> }> = [
  { name: 'ordered-throughput', run: ordered.run },
  { name: 'enqueue', run: enqueue.run },
  { name: 'lease-timings', run: leaseTimings },
  { name: 'scale', run: scale.run },
  { name: 'churn', run: churn.run },
];

/** Scenarios 3 and 4 belong to `bench/lease-timings.ts` (its own output and result files); run it if present. */
async function leaseTimings(o: RunOptions): Promise<ScenarioResult> {
  const file = fileURLToPath(new URL('lease-timings.ts', `file://${BENCH_DIR}`));
  const skipped = (why: string): ScenarioResult => ({
    scenario: 'lease-timings',
    title: 'Scenarios 3 and 4 — lease timings and database cost',
    method: [why],
    tables: [],
    data: { skipped: why },
  });
  if (!existsSync(file)) return skipped('bench/lease-timings.ts does not exist yet: skipped.');
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...(o.quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.quick ? 90 : 360) * 1000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const seconds = (performance.now() - started) / 1000;
  return {
    scenario: 'lease-timings',
    title: 'Scenarios 3 and 4 — lease timings and database cost (bench/lease-timings.ts, output above)',
    method: [
      `Ran bench/lease-timings.ts${o.quick ? ' --quick' : ''}: exit code ${code}, ${seconds.toFixed(0)} s.`,
    ],
    tables: [],
    data: { exitCode: code, seconds },
  };
}

const machine = await describeMachine();
out(`# dbleases benchmarks${quick ? ' (quick)' : ''}`);
out();
out(`Machine: ${machineLine(machine)}`);
out(`Command: npm run bench${quick ? ' -- --quick' : ''}`);
const started = performance.now();
let failed = 0;
for (const s of scenarios) {
  if (only && !only.includes(s.name)) continue;
  const t = performance.now();
  log(`--- ${s.name} (loadavg ${loadNow().join(' / ')})`);
  try {
    const r = await s.run(opts);
    const seconds = (performance.now() - t) / 1000;
    out();
    out(`## ${r.title}`);
    out();
    for (const m of r.method) out(`- ${m}`);
    for (const tbl of r.tables) {
      out();
      out(tbl);
    }
    out();
    out(`_${seconds.toFixed(0)} s; loadavg now ${loadNow().join(' / ')}_`);
    if (r.scenario !== 'lease-timings') {
      await writeResult(r.scenario, {
        scenario: r.scenario,
        title: r.title,
        quick,
        machine,
        seconds,
        method: r.method,
        ...r.data,
      });
    }
  } catch (error) {
    failed++;
    out();
    out(`## ${s.name}: FAILED — ${(error as Error).message}`);
    log((error as Error).stack ?? String(error));
  }
}
out();
out(
  `Total ${((performance.now() - started) / 1000).toFixed(0)} s; loadavg at the end ${loadNow().join(' / ')} (at the start ${machine.loadavg.join(' / ')}).`,
);
process.exit(failed > 0 ? 1 : 0);
