/** Runs examples/busy-loop.ts as a user would (through tsx, importing 'dbleases'), then stops it with SIGTERM. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { testSchema } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

let db: Awaited<ReturnType<typeof testSchema>>;
beforeAll(async () => {
  db = await testSchema('examples-busy-loop');
});
afterAll(async () => {
  await db.drop();
});

it('owns partitions, works on them, and exits 0 on SIGTERM after handing them back', async () => {
  const file = fileURLToPath(new URL('../../examples/busy-loop.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', file, 'busy-test'], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, DBLEASES_SCHEMA: db.schema, DBLEASES_TTL: '1000', DBLEASES_HEARTBEAT: '250' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  try {
    await waitFor(
      () => lines.some((l) => /owns 16 partitions: \[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\]/.test(l)),
      {
        timeout: 20_000,
        message: `the example to own all 16 partitions (stdout: ${lines.join(' | ')}; stderr: ${stderr.slice(-500)})`,
      },
    );
    // Wait until it reports work done while owning them.
    await waitFor(() => lines.some((l) => /progress: [1-9]\d* units/.test(l)), {
      timeout: 10_000,
      message: `a progress line (stdout: ${lines.join(' | ')})`,
    });
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  const closed = lines.find((l) => l.includes('closed after'));
  expect(closed, lines.join('\n')).toMatch(/closed after [1-9]\d* units of work/);
  expect(stderr).toBe('');
  // Handed back: no partition row names it any more.
  const owned = await db.pool.query(
    `SELECT count(*)::int AS n FROM "${db.schema}".db_leases_partitions WHERE owner = 'busy-test'`,
  );
  expect(owned.rows[0].n).toBe(0);
});
