/** The `dbleases` command as a real child process against real Postgres. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compactRanges } from '../../src/dashboard/index.js';
import { DATABASE_URL, REDIS_URL, uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, writeFixture } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const pool = newPool();
const schema = uniqueName('dashboard-cli');

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { env: { ...process.env, DATABASE_URL, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  await writeFixture(pool, schema);
  // A client whose id carries a terminal escape sequence: printed harmlessly.
  await pool.query(
    `INSERT INTO "${schema}"."db_leases_clients" (client_id, instance, expires_at, heartbeat_at) VALUES ($1, 'i9', clock_timestamp() + interval '1 hour', clock_timestamp())`,
    ['evil\u001b[2Jid'],
  );
});

afterAll(async () => {
  await dropSchema(pool, schema);
  await pool.end();
});

describe('compactRanges', () => {
  it('folds runs into ranges', () => {
    expect(compactRanges([0, 1, 2, 3, 4, 5, 6, 7, 12])).toBe('0-7,12');
    expect(compactRanges([12, 3, 1, 2, 2])).toBe('1-3,12');
    expect(compactRanges([5])).toBe('5');
    expect(compactRanges([])).toBe('');
    expect(compactRanges([1, 3, 5, 6])).toBe('1,3,5-6');
  });
});

describe('dbleases status', () => {
  it('prints one row per client and one line per lease with its unowned partitions', async () => {
    const { code, stdout, stderr } = await cli(['status', '--schema', schema]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CLIENT\s+STATE\s+PARTITIONS\s+COUNT\s+HEARTBEAT$/);
    const row = (id: string) => lines.find((l) => l.startsWith(`${id} `))?.split(/\s{2,}/);
    const age = expect.stringMatching(/^\d+(\.\d)? s ago$/);
    expect(row('alpha')).toEqual(['alpha', 'live', '0-2', '3', age]);
    expect(row('closing-one')).toEqual(['closing-one', 'draining', '3', '1', age]);
    expect(row('ghost')).toEqual(['ghost', 'expired', '-', '0', age]);
    // Ages by the database clock: the fixture's heartbeats are 0.2 s and 6 s old at write time.
    const seconds = (id: string) => parseFloat(row(id)?.[4] ?? 'NaN');
    expect(seconds('ghost') - seconds('alpha')).toBeGreaterThan(5.5);
    expect(seconds('ghost') - seconds('alpha')).toBeLessThan(6.5);
    expect(stdout).toContain('lease static: 6 partitions, 4 owned, 2 unowned: 4-5');
    // Control characters from the database never reach the terminal.
    expect(stdout).not.toContain('\u001b');
    expect(stdout).toContain('evil?[2Jid');
  });

  it('prints JSON with --json', async () => {
    const { code, stdout } = await cli(['status', '--schema', schema, '--json']);
    expect(code).toBe(0);
    const s = JSON.parse(stdout) as { leases: { name: string; unowned: number }[] };
    expect(s.leases[0]).toMatchObject({ name: 'static', unowned: 2 });
  });

  it('fails with one clear line and a non-zero code', async () => {
    const wrongSchema = await cli(['status', '--schema', 'no_such_schema_here']);
    expect(wrongSchema.code).toBe(1);
    expect(wrongSchema.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrongSchema.stderr).toMatch(/No dbleases tables found .*--schema/);

    const down = await cli(['status', '--database-url', 'postgres://postgres@127.0.0.1:1/postgres']);
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toMatch(
      /Could not connect to Postgres at postgres:\/\/postgres@127\.0\.0\.1:1\/postgres \(ECONNREFUSED\)/,
    );
    expect(down.stderr).not.toMatch(/\n\s+at /);

    const bad = await cli(['status', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--bogus'/);

    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('refuses a non-loopback dashboard without a token before touching the network', async () => {
    const res = await cli([
      'dashboard',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--database-url',
      'postgres://postgres@127.0.0.1:1/x',
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr.split('\n')[0]).toMatch(/--host 0\.0\.0\.0 is not a loopback address: pass --token/);
  });

  it('serves the dashboard until SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, 'dashboard', '--port', '0', '--schema', schema, '--redis-url', REDIS_URL],
      {
        env: { ...process.env, DATABASE_URL },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: string) => {
        out += c;
        const m = out.match(/on (http:\/\/127\.0\.0\.1:\d+\/)/);
        if (m?.[1]) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const res = await fetch(`${url}api/leases`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { leases: { name: string }[]; redis: unknown };
    expect(body.leases[0]?.name).toBe('static');
    expect(body.redis).toEqual({ prefix: 'bull', error: null });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
