/** The `dbleases` command's usage mistakes and `--version`, from the checkout, as real child processes. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Nothing listens there: a command that got past its arguments would fail to connect (exit 1). */
const CLOSED = 'postgres://postgres@127.0.0.1:1/postgres';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { env: { ...process.env, DATABASE_URL: CLOSED }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

it('prints the package version with --version', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const res = await cli(['--version']);
  expect(res).toMatchObject({ code: 0, stdout: `${version}\n` });
});

it('exits 2 for a bad option value, like for an unknown option', async () => {
  const schema = await cli(['status', '--schema', 'x;drop']);
  expect(schema.code).toBe(2);
  expect(schema.stderr).toMatch(/Expected `--schema` to be a lower-case SQL identifier .*got `"x;drop"`/);
  const prefix = await cli(['dashboard', '--table-prefix', 'Bad-Prefix']);
  expect(prefix.code).toBe(2);
  expect(prefix.stderr).toMatch(/Expected `--table-prefix`/);
});

it('checks the dashboard token before touching the database, without printing it', async () => {
  const res = await cli(['dashboard', '--token', 'short', '--port', '0']);
  expect(res.code).toBe(2);
  expect(res.stderr.split('\n')[0]).toBe(
    'dbleases dashboard: Expected --token (or DBLEASES_DASHBOARD_TOKEN) to be at least 8 characters, got 5',
  );
  expect(res.stderr).not.toMatch(/Could not connect|No dbleases tables|\bshort\b/);
});

it('mentions docker compose for a database that does not answer only in the checkout', async () => {
  const res = await cli(['status']);
  expect(res.code).toBe(1);
  expect(res.stderr.trim()).toMatch(
    /Could not connect to Postgres .*`docker compose up -d`, or pass --database-url/,
  );
});
