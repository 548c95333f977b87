/**
 * The short chaos run (`npm run chaos -- --jobs 3000 --faults 6`) as a child process: it must exit 0
 * after its oracle checked every job, and leave nothing behind — no worker process, no Postgres
 * connection, no schema, no Redis client or key of its namespace — also when interrupted with Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DATABASE_URL, REDIS_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';

const RUN = fileURLToPath(new URL('../../chaos/run.ts', import.meta.url));
let pool: pg.Pool;
let redis: Redis;

beforeAll(() => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  pool.on('error', () => {});
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await redis.quit();
  await pool.end();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  lines: string[];
}

function run(args: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', RUN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let partial = '';
    const take = (d: Buffer) => {
      out += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) onLine?.(line, child);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('exit', (code, signal) =>
      resolve({ code, signal, out, lines: out.split('\n').filter(Boolean) }),
    );
  });
}

/** The namespace, and every worker pid the run printed. */
function parse(out: string): { ns: string; pids: number[] } {
  const ns = /namespace (chaos_[0-9a-f]+)/.exec(out)?.[1];
  if (ns === undefined) throw new Error(`no namespace in the output:\n${out}`);
  const pids = [...out.matchAll(/pids ([\d ]+)\)|\(pid (\d+)\)/g)].flatMap((m) =>
    (m[1] ?? m[2]!).trim().split(' ').map(Number),
  );
  return { ns, pids };
}

const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function leftovers(ns: string, pids: number[]) {
  const [schemas, conns, clients, keys] = await Promise.all([
    pool.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [ns]),
    pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1`, [`${ns}%`]),
    redis.client('LIST') as Promise<string>,
    redis.scan('0', 'MATCH', `${ns}:*`, 'COUNT', 10_000),
  ]);
  return {
    processes: pids.filter(running),
    schemas: schemas.rows[0].n as number,
    pgConnections: conns.rows[0].n as number,
    redisClients: clients.split('\n').filter((l) => l.includes(ns)).length,
    redisKeys: keys[1].length,
  };
}
const nothing = { processes: [], schemas: 0, pgConnections: 0, redisClients: 0, redisKeys: 0 };

describe('npm run chaos (short)', () => {
  it(
    'injects every fault kind, loses and reorders nothing, and cleans up',
    { timeout: 180_000 },
    async () => {
      const r = await run(['--jobs', '3000', '--faults', '8', '--gap', '2000-3000']);
      const tail = r.lines.slice(-30).join('\n');
      expect(r.code, tail).toBe(0);
      const summary = JSON.parse(r.lines.at(-1)!) as Record<string, unknown>;
      expect(summary, tail).toMatchObject({
        chaos: 'summary',
        jobs: 3000,
        faultsPlanned: 8,
        faultsInjected: 8,
        faults: 8,
        lost: 0,
        orderViolations: 0,
        overlaps: 0,
        epochRegressions: 0,
        faultProblems: 0,
        violations: 0,
      });
      expect(summary.executions as number).toBeGreaterThanOrEqual(3000);
      // Every one of the seven kinds that need no Postgres restart was injected (8 faults: each once,
      // one twice), among them a close during claims and a graceful stop while Postgres does not answer.
      expect(Object.keys(summary.faultKinds as object).sort()).toEqual([
        'blackhole-stop',
        'close-claim',
        'graceful',
        'kill',
        'pause',
        'pg-terminate',
        'redis-kill',
      ]);
      expect(summary.takeoverMaxMs as number).toBeGreaterThan(0); // the oracle measured takeovers
      const { ns, pids } = parse(r.out);
      expect(pids.length).toBeGreaterThanOrEqual(5); // 4 + at least one replacement or newcomer
      expect(await leftovers(ns, pids)).toEqual(nothing);
    },
  );

  it(
    'on Ctrl-C stops every worker (a stopped one too) and removes its namespace',
    { timeout: 120_000 },
    async () => {
      let interrupted = false;
      const r = await run(
        ['--jobs', '100000', '--faults', '20', '--gap', '1500-1600', '--seed', '11'],
        (line, child) => {
          // Interrupt while a worker is SIGSTOPped: it must be continued, then killed.
          if (!interrupted && /SIGSTOPped/.test(line)) {
            interrupted = true;
            child.kill('SIGINT');
          }
        },
      );
      expect(interrupted, r.out.slice(-2000)).toBe(true);
      expect(r.code).toBe(130);
      const { ns, pids } = parse(r.out);
      await waitFor(
        async () => {
          const left = await leftovers(ns, pids);
          return left.processes.length === 0 && left.pgConnections === 0 ? left : undefined;
        },
        { timeout: 10_000, message: 'worker processes and their connections to go' },
      );
      expect(await leftovers(ns, pids)).toEqual(nothing);
    },
  );
});
