/**
 * `dbleases demo` end to end, as a user runs it: a short script with every fault, its summary and exit
 * code, no worker left behind; and the one-line message when Postgres does not answer.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { expect, it } from 'vitest';

import { DATABASE_URL, uniqueName } from '../helpers/env.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function demo(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('runs the whole script (split, SIGKILL, join, graceful close), holds every guarantee and exits 0', async () => {
  const schema = uniqueName('cli-demo', 'demo');
  const { code, stdout, stderr } = await demo(['--duration', '8', '--partitions', '16', '--schema', schema]);
  expect(code, `${stdout}\n${stderr}`).toBe(0);
  expect(stdout).toContain('All guarantees held.');
  expect(stdout).toMatch(/SIGKILL w1 \(it owns \d+: /);
  expect(stdout).toMatch(/w1's \d+ partitions owned again after \d+ ms/);
  expect(stdout).toMatch(/starting w4/);
  expect(stdout).toMatch(/partitions handed over in \d+ ms/);
  for (const row of ['failover (SIGKILL w1', 'join w4 → balanced', 'handoff (close', 'partitions moved (join w4)', 'balanced ±1 at the end']) {
    expect(stdout).toContain(row);
  }
  expect(stdout).toMatch(/overlapping ownership seen\s+0\s+0\s+ok/);
  expect(stdout).not.toContain('FAILED');
  // No worker outlives the demo (their pids are in the final table).
  const pids = [...stdout.matchAll(/^w\d\s+(\d+)\s/gm)].map((m) => Number(m[1]));
  expect(pids.length).toBe(4);
  expect(pids.filter(alive)).toEqual([]);
}, 150_000);

it('prints one clear line (no stack trace) and exits 1 when Postgres does not answer', async () => {
  const { code, stdout, stderr } = await demo([], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' });
  expect(code).toBe(1);
  expect(stdout).toBe('');
  expect(stderr.trim().split('\n')).toEqual([expect.stringContaining('docker compose up -d')]);
  expect(stderr).not.toMatch(/\n\s+at /);
});

it('refuses a bad option with the usage and exit code 2', async () => {
  const { code, stderr } = await demo(['--partitions', 'many']);
  expect(code).toBe(2);
  expect(stderr).toContain('Expected --partitions to be an integer from 4 to 4096, got "many"');
});
