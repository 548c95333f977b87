/**
 * Small helpers shared by the benchmark scenarios: environment, unique names, Redis prefix cleanup
 * and server-side counters, percentiles, markdown tables, result files.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import type { Redis } from 'ioredis';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Options every scenario receives from the runner. */
export interface RunOptions {
  quick: boolean;
  /** Printed progress lines (stderr), so stdout stays the tables. */
  log: (message: string) => void;
}

/** What a scenario hands back: its markdown tables and the data written to `bench/results/<scenario>.json`. */
export interface ScenarioResult {
  scenario: string;
  title: string;
  /** How the numbers were taken (printed under the title and kept in the JSON). */
  method: string[];
  tables: string[];
  data: Record<string, unknown>;
}

/** Wall clock in ms with sub-ms resolution; comparable across processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A name unique to this run: `<tag>_<12 hex>` (valid as a Postgres schema, Redis prefix and queue name). */
export function uniqueName(tag: string): string {
  const hash = createHash('sha1')
    .update(`${tag}:${process.pid}:${Date.now()}:${Math.random()}`)
    .digest('hex');
  return `${tag}_${hash.slice(0, 12)}`;
}

/** Polls `check` every `everyMs` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 20,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Deletes every key matching `pattern` (SCAN + UNLINK, never KEYS). Returns how many. */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    if (keys.length > 0) n += await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  return n;
}

export interface CommandStat {
  calls: number;
  usec: number;
}

/** `INFO commandstats` as command → calls and CPU µs spent in Redis. */
export async function commandStats(redis: Redis): Promise<Map<string, CommandStat>> {
  const text = await redis.info('commandstats');
  const stats = new Map<string, CommandStat>();
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) stats.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return stats;
}

/** after − before, per command, sorted by calls (commands with no new calls left out). */
export function statsDelta(
  before: Map<string, CommandStat>,
  after: Map<string, CommandStat>,
): Array<{ cmd: string } & CommandStat> {
  const out: Array<{ cmd: string } & CommandStat> = [];
  for (const [cmd, a] of after) {
    const b = before.get(cmd) ?? { calls: 0, usec: 0 };
    if (a.calls > b.calls) out.push({ cmd, calls: a.calls - b.calls, usec: a.usec - b.usec });
  }
  return out.sort((x, y) => y.calls - x.calls);
}

/** Value at quantile `q` (0..1) of an ascending-sorted array (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function minMedMax(values: number[]): { min: number; median: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { min: s[0] ?? Number.NaN, median: quantile(s, 0.5), max: s[s.length - 1] ?? Number.NaN };
}

/** Rounds for display: integers above 100, 3 significant digits below. */
export function fmt(value: number | undefined | null, digits = 3): string {
  if (value === undefined || value === null || Number.isNaN(value)) return '–';
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}

export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.map((c) => String(c)).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export async function writeResult(name: string, value: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}.json`;
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}

/** CPU seconds (user + sys) the Redis server has used so far (INFO cpu). */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const text = await redis.info('cpu');
  const user = Number(/used_cpu_user:([\d.]+)/.exec(text)?.[1] ?? Number.NaN);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(text)?.[1] ?? Number.NaN);
  return user + sys;
}
