/**
 * `dbleases demo` end to end, as a user runs it: the BullMQ fleet with every fault, its summary and exit
 * code, no worker left behind; the PGlite fallback when Postgres does not answer; a private redis-server
 * when Redis does not answer; the one-line message when there is no Redis at all.
 * Each run has its own schema and Redis prefix, and the dashboard on a free port.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, expect, it } from 'vitest';

import { DATABASE_URL, REDIS_URL, uniqueName } from '../helpers/env.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CLOSED = 'postgres://postgres@127.0.0.1:1/postgres';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the demo in its own namespace; resolves on exit (or kills it after `deadlineMs` and says so). */
function demo(
  args: string[],
  env: Record<string, string> = {},
  deadlineMs = 80_000,
  onStdout?: (stdout: string, pid: number) => void,
): Promise<Run> {
  const ns = [
    '--schema',
    uniqueName('cli-demo', 'demo'),
    '--redis-prefix',
    uniqueName('cli-demo', 'demo'),
    '--port',
    '0',
  ];
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', ...ns, ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL, REDIS_URL, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as in a terminal: Ctrl-C (SIGINT to the group) reaches the workers too.
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, proc.pid!);
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[test] the demo did not exit within ${deadlineMs} ms: SIGINT`;
      process.kill(-proc.pid!, 'SIGINT');
    }, deadlineMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
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

/** Whether a TCP connection to the loopback `port` is refused (nothing listens there). */
const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

const workerPids = (stdout: string) => [...stdout.matchAll(/^w\d+\s+(\d+)\s/gm)].map((m) => Number(m[1]));

/** The row `name` of the summary table reads `value` and ends with `ok`. */
const row = (name: string, value: string) =>
  new RegExp(`^${name.replace(/[()]/g, '\\$&')}\\s+${value}\\s.*\\sok$`, 'm');

const tmp: string[] = [];
afterAll(() => tmp.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

it('runs the BullMQ fleet through SIGKILL, join and graceful stop; every job once and in order; exits 0', async () => {
  const { code, stdout, stderr } = await demo(['--jobs', '2000', '--duration', '20']);
  const all = `${stdout}\n${stderr}`;
  expect(code, all).toBe(0);
  expect(stdout).toMatch(/^Dashboard: http:\/\/127\.0\.0\.1:\d+\//m);
  expect(stdout).toMatch(/SIGKILL w1 \(pid \d+, \d+ jobs? in flight\) \(it owns \d+: /);
  expect(stdout).toMatch(/w1's \d+ partitions owned again after \d+ ms/);
  expect(stdout).toMatch(/starting w4/);
  expect(stdout).toMatch(/partitions handed over in \d+ ms/);
  expect(stdout).toMatch(/queue drained: 2000 jobs processed/);
  expect(stdout).toMatch(/█+ 2000\/2000 jobs/);
  expect(stdout).toMatch(row('jobs processed', '2000'));
  expect(stdout).toMatch(row('jobs lost', '0'));
  expect(stdout).toMatch(row('order violations (per key)', '0'));
  expect(stdout).toMatch(row('duplicate executions (not from SIGKILL)', '0'));
  expect(stdout).toMatch(row('jobs of one partition on two workers at once', '0'));
  expect(stdout).toMatch(row('overlapping partition ownership (lease samples)', '0'));
  for (const name of [
    'failover (SIGKILL w1',
    'first job of w1',
    'join w4 → balanced',
    'handoff (close',
    'duplicate executions (job cut by SIGKILL)',
  ]) {
    expect(stdout).toContain(name);
  }
  expect(stdout).toContain('All guarantees held.');
  expect(stdout).not.toContain('FAILED');
  const pids = workerPids(stdout);
  expect(pids.length).toBe(4);
  expect(pids.filter(alive)).toEqual([]);
}, 90_000);

it('falls back to embedded PGlite (workers in-process, SIGKILL skipped and said why) when Postgres does not answer, and exits 0', async () => {
  const { code, stdout, stderr } = await demo(['--jobs', '600', '--duration', '8'], { DATABASE_URL: CLOSED });
  expect(code, `${stdout}\n${stderr}`).toBe(0);
  expect(stdout).toMatch(
    /^No Postgres answered at .*: the lease store runs on embedded PGlite, with the workers inside this process/m,
  );
  expect(stdout).toMatch(/starting 3 workers inside this process/);
  expect(stdout).toContain('Skipped the SIGKILL: the workers run inside this process');
  expect(stdout).toMatch(/w4 ready \d+ ms after spawn, balanced \d+ ms later/);
  expect(stdout).toMatch(/partitions handed over in \d+ ms/);
  expect(stdout).toMatch(row('jobs processed', '600'));
  expect(stdout).toMatch(row('order violations (per key)', '0'));
  expect(stdout).toContain('All guarantees held.');
}, 60_000);

const redisServer = spawnSync('redis-server', ['--version']).error === undefined;

it.skipIf(!redisServer)(
  'starts a private redis-server when Redis does not answer, and stops it at the end',
  async () => {
    const { code, stdout, stderr } = await demo(['--jobs', '300', '--duration', '5', '--no-faults'], {
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    const port = Number(/started a private redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(stdout).toMatch(row('jobs processed', '300'));
    // Stopped: nothing listens on its port any more.
    expect(await refused(port)).toBe(true);
    expect(workerPids(stdout).filter(alive)).toEqual([]);
  },
  60_000,
);

it.skipIf(!redisServer)(
  'stops everything on Ctrl-C: workers, private redis-server; exit 130',
  async () => {
    let sent = false;
    const { code, stdout, stderr } = await demo(
      ['--jobs', '5000', '--duration', '30'],
      { REDIS_URL: 'redis://127.0.0.1:1' },
      60_000,
      (out, pid) => {
        if (!sent && /split: /.test(out)) {
          sent = true;
          process.kill(-pid, 'SIGINT');
        }
      },
    );
    expect(sent, `${stdout}\n${stderr}`).toBe(true);
    expect(code, `${stdout}\n${stderr}`).toBe(130);
    expect(stdout).toContain('interrupted: stopping the workers');
    expect(stdout).toContain('Interrupted: every worker stopped.');
    const pids = workerPids(stdout);
    expect(pids.length).toBe(3);
    expect(pids.filter(alive)).toEqual([]);
    const port = Number(/private redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
    expect(await refused(port)).toBe(true);
  },
  60_000,
);

it('prints one clear line (no stack trace) and exits 1 with no Redis and no redis-server on the PATH', async () => {
  const bin = mkdtempSync(join(tmpdir(), 'demo-path-'));
  tmp.push(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const { code, stdout, stderr } = await demo(
    [],
    { REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: CLOSED, PATH: bin },
    30_000,
  );
  expect(code).toBe(1);
  expect(stdout).toBe('');
  expect(stderr.trim().split('\n')).toEqual([expect.stringContaining('docker compose up -d')]);
  expect(stderr).toContain('No Redis answered at redis://127.0.0.1:1');
  expect(stderr).not.toMatch(/\n\s+at /);
});

it('refuses a bad option with the usage and exit code 2', async () => {
  const { code, stderr } = await demo(['--partitions', 'many']);
  expect(code).toBe(2);
  expect(stderr).toContain('Expected --partitions to be an integer from 4 to 4096, got "many"');
});
