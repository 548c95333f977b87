/**
 * A private `redis-server` for the demo when none answers at REDIS_URL: found on the PATH, started on a
 * free loopback port in a temp dir (`--save "" --appendonly no`), in its own process group (Ctrl-C in
 * the terminal does not stop it before the workers are done with it), and stopped by `stop()` or, as a
 * last resort, when the demo process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

import { Redis } from 'ioredis';

/** The path of `name` on the PATH, or undefined. */
export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface PrivateRedis {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts `binary` and resolves once it answers PING (or rejects within 10 s, leaving nothing behind). */
export async function startPrivateRedis(binary: string): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'dbleases-demo-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ];
  const proc: ChildProcess = spawn(binary, args, { cwd: dir, stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.once('error', () => {});
  const onExit = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.off('exit', onExit);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    })());
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`redis-server exited with ${proc.exitCode ?? proc.signalCode}`);
      const pong = await probe
        .connect()
        .then(() => probe.ping())
        .catch(() => '');
      if (pong === 'PONG') break;
      probe.disconnect();
      if (Date.now() > deadline) throw new Error('redis-server did not answer within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    probe.disconnect();
  }
  return { url, pid: proc.pid!, stop };
}
