/** Shared pieces of the lease benchmarks: summary statistics, the machine, a database of their own. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

import pg from 'pg';

export interface Stat {
  n: number;
  min: number;
  median: number;
  max: number;
}

export function stat(values: number[]): Stat | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, min: s[0]!, median, max: s[s.length - 1]! };
}

export const fmt = (s: Stat | undefined, unit = '', digits = 0) =>
  s ? `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}${unit}` : 'n/a';

export async function machine(pool: pg.Pool): Promise<Record<string, string | number>> {
  const version = (await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!
    .v;
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu =
      execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim() ||
      cpu;
  } catch {
    // not Linux: keep os.cpus()
  }
  return {
    nproc: os.availableParallelism(),
    cpu,
    node: process.version,
    postgres: version,
    date: new Date().toISOString(),
  };
}

/** A database of the benchmark's own (so pg_stat_database counts only its traffic); returns its URL. */
export async function benchDatabase(
  baseUrl: string,
  name: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 10 ms; resolves true once it holds, false after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await check()) return true;
    await sleep(10);
  }
  return false;
}
