/**
 * The package as a new user gets it: `npm pack` (the prepack build included), the tarball installed
 * into a fresh project outside the repository — first with `pg` only, then with the optional peers —,
 * a strict TypeScript consumer of all three entry points compiled and run against the real Postgres and
 * Redis, `npx dbleases`, `require()`, and a too-old bullmq refused with one clear line.
 * Peers are pinned to the versions of this checkout's node_modules, so npm finds them in its cache.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DATABASE_URL, REDIS_URL, uniqueName } from '../helpers/env.js';
import { diagnostics, must, type Result, ROOT, run, TSC } from './helpers.js';

const TMP = mkdtempSync(join(tmpdir(), 'dbleases-pack-'));
const APP = join(TMP, 'app');
const schema = uniqueName('package-pack');
const prefix = uniqueName('package-pack', 'bull');
const ENV = { DATABASE_URL, REDIS_URL };
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
const version = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;
const pin = (name: string) => `${name}@${version(name)}`;
const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

let files: string[] = [];
/** `npx dbleases demo` and `status` before the peers were installed. */
let demoWithoutPeers: Result;
let statusWithoutPeers: Result;
const dbleases = (args: string[]) => run('npx', ['dbleases', ...args], { cwd: APP, env: ENV });
const node = (args: string[]) => run(process.execPath, args, { cwd: APP, env: ENV, timeoutMs: 60_000 });

function tsconfig(name: string, include: string[], extra: Record<string, unknown> = {}): void {
  const compilerOptions = {
    strict: true,
    target: 'ES2022',
    lib: ['ES2023'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    types: ['node'],
    skipLibCheck: false,
    rootDir: '.',
    outDir: 'build',
    ...extra,
  };
  writeFileSync(join(APP, name), JSON.stringify({ compilerOptions, include }, null, 2));
}

beforeAll(async () => {
  const packed = await must('npm', ['pack', '--json', '--pack-destination', TMP, '--loglevel=error'], {
    cwd: ROOT,
    timeoutMs: 180_000,
  });
  // After the prepack build's own output: the JSON array npm prints.
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = info!.files.map((f) => f.path).sort();
  mkdirSync(APP);
  writeFileSync(
    join(APP, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  await must('npm', ['install', ...NPM_FLAGS, join(TMP, info!.filename), pin('pg')], {
    cwd: APP,
    timeoutMs: 180_000,
  });
  demoWithoutPeers = await dbleases(['demo']);
  statusWithoutPeers = await dbleases(['status', '--schema', schema]);
  const peers = ['bullmq', 'ioredis', 'prom-client', '@types/pg', '@types/node'].map(pin);
  await must('npm', ['install', ...NPM_FLAGS, ...peers], { cwd: APP, timeoutMs: 180_000 });
  cpSync(join(ROOT, 'test', 'package', 'consumer'), join(APP, 'src'), { recursive: true });
}, 400_000);

afterAll(async () => {
  // Each step runs even when another failed.
  rmSync(TMP, { recursive: true, force: true });
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
      await pool.end();
    }
  }
});

describe('the tarball', () => {
  it('ships the build, the migrations the runner reads, README, LICENSE and nothing else', () => {
    const unexpected = files.filter(
      (f) =>
        !/^(package\.json|README\.md|LICENSE)$/.test(f) &&
        !/^drizzle\/(\d{4}_[a-z_]+\.sql|meta\/_journal\.json)$/.test(f) &&
        !/^dist\/(?!cli\/).+\.(js|d\.ts)$/.test(f) &&
        !/^dist\/cli\/.+\.js$/.test(f),
    );
    expect(unexpected).toEqual([]);
    for (const f of ['LICENSE', 'dist/index.d.ts', 'dist/bullmq/index.d.ts', 'dist/dashboard/index.d.ts'])
      expect(files).toContain(f);
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('drizzle/meta/_journal.json');
    expect(files.filter((f) => f.endsWith('.sql')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('installed into a fresh project', () => {
  it('reports every package the demo misses at once, and none it has', () => {
    expect(demoWithoutPeers.code).toBe(1);
    expect(demoWithoutPeers.stderr.trim()).toBe(
      'dbleases demo: needs the packages bullmq, ioredis, prom-client, not installed: npm install bullmq ioredis prom-client',
    );
  });

  it('runs `status` with pg alone', () => {
    // No lease client ran yet: the tables are missing, which is the database's answer, not a package's.
    expect(statusWithoutPeers.code).toBe(1);
    expect(statusWithoutPeers.stderr.trim()).toMatch(/^dbleases status: No dbleases tables found /);
  });

  it('type-checks a strict consumer of all three entry points, without skipLibCheck', async () => {
    tsconfig('tsconfig.json', ['src']);
    const res = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: APP });
    expect(res.code, diagnostics(res)).toBe(0);
  }, 120_000);

  it('leaves the optional packages out of the types of a project that does not use them', async () => {
    writeFileSync(
      join(APP, 'lease-only.ts'),
      "import { createClient } from 'dbleases';\nimport { createDashboard } from 'dbleases/dashboard';\nexport { createClient, createDashboard };\n",
    );
    tsconfig('tsconfig.lease-only.json', ['lease-only.ts'], { noEmit: true });
    const res = await run(process.execPath, [TSC, '-p', 'tsconfig.lease-only.json', '--listFilesOnly'], {
      cwd: APP,
    });
    expect(res.code, diagnostics(res)).toBe(0);
    const program = res.stdout.split('\n');
    expect(program.some((f) => f.includes('/node_modules/dbleases/dist/dashboard/index.d.ts'))).toBe(true);
    expect(program.filter((f) => /\/node_modules\/(ioredis|bullmq|@electric-sql)\//.test(f))).toEqual([]);
  }, 120_000);

  it('runs a worker and a producer against the real Postgres and Redis', async () => {
    const res = await node(['build/src/app.js', schema, prefix, '200']);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout.trim().split('\n').at(-1)!)).toEqual({
      processed: 200,
      outOfOrder: 0,
      owned: 8,
      leases: [{ name: 'orders', size: 8, owned: 8 }],
      metrics: true,
      wrongOptions: 'INVALID_ARGUMENT',
    });
  }, 60_000);

  it('runs `npx dbleases --version` and `status`, with messages for an installed user', async () => {
    expect(await dbleases(['--version'])).toMatchObject({ code: 0, stdout: `${own.version}\n` });
    const status = await dbleases(['status', '--schema', schema]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^lease orders: 8 partitions, /m);
    const help = await dbleases(['demo', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: dbleases demo \[options\]\n/);
    expect(help.stdout).not.toContain('npm run');
    const down = await dbleases(['status', '--database-url', 'postgres://postgres@127.0.0.1:1/postgres']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/Could not connect to Postgres .*: is it running\? Start Postgres, or pass/);
    expect(down.stderr).not.toContain('docker');
  }, 60_000);

  it('can be loaded with require() (Node 20.19+)', async () => {
    const res = await node([
      '-e',
      "const a = require('dbleases'), b = require('dbleases/bullmq'), c = require('dbleases/dashboard'); console.log(typeof a.createClient, typeof b.PartitionedWorker, typeof c.createDashboard)",
    ]);
    expect(res.stdout.trim(), res.stderr).toBe('function function function');
  });

  // Last: it replaces the installed bullmq.
  it('refuses a too-old bullmq with one line naming the installed and supported versions', async () => {
    await must('npm', ['install', '--no-save', ...NPM_FLAGS, 'bullmq@5'], { cwd: APP, timeoutMs: 180_000 });
    const res = await node([
      '--input-type=module',
      '-e',
      "import('dbleases/bullmq').then(() => console.log('loaded'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))",
    ]);
    const error = JSON.parse(res.stdout) as { code: string; message: string };
    expect(error.code).toBe('UNSUPPORTED_PEER_VERSION');
    expect(error.message).toMatch(
      /^dbleases\/bullmq needs bullmq >=6\.0\.0 <7\.0\.0, but bullmq 5\.\d+\.\d+ is installed \(.*node_modules\/bullmq\): npm install bullmq@6$/,
    );
    const demo = await dbleases(['demo']);
    expect(demo.code).toBe(1);
    expect(demo.stderr.trim()).toBe(`dbleases: ${error.message}`);
  }, 200_000);
});
