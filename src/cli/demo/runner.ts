/**
 * How a demo worker runs: a child process (a worker script through tsx from source, or plain node once
 * built) reporting JSON lines on stdout, or worker-core.ts inside this process (on PGlite), reporting
 * the same messages through a callback.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { now, startWorker, type WorkerConfig } from './worker-core.js';

export interface Message {
  t: number;
  type: string;
  values?: number[];
  epochs?: number[];
  message?: string;
  pid?: number;
}

/** A running worker, whichever way it runs. */
export interface Runner {
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly exited: Promise<void>;
  /** SIGKILL (child processes only). */
  kill(): void;
  /** Graceful close. */
  close(): void;
}

/** How to start a worker script: through tsx from source, plain node once built. */
function workerCommand(name: string): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return fromSource ? ['--import', import.meta.resolve('tsx'), file] : [file];
}

export function childRunner(
  script: string,
  env: Record<string, string>,
  onMessage: (m: Message) => void,
  onStderr: (text: string) => void,
): Runner {
  const proc: ChildProcess = spawn(process.execPath, workerCommand(script), {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      onMessage(JSON.parse(line) as Message);
    } catch {
      // not a message
    }
  });
  proc.stderr!.on('data', (d: Buffer) => onStderr(d.toString()));
  proc.stdin!.on('error', () => {});
  const running = () => proc.exitCode === null && proc.signalCode === null;
  return {
    pid: proc.pid,
    get running() {
      return running();
    },
    exited: new Promise((resolve) => proc.once('exit', () => resolve())),
    kill: () => void (running() && proc.kill('SIGKILL')),
    close: () => void (running() && proc.kill('SIGTERM')),
  };
}

export function inProcessRunner(db: unknown, cfg: WorkerConfig, onMessage: (m: Message) => void): Runner {
  let running = true;
  let resolveExited!: () => void;
  const exited = new Promise<void>((resolve) => (resolveExited = resolve));
  const done = () => {
    running = false;
    resolveExited();
  };
  const started = startWorker(db, cfg, (m) => onMessage(m as Message));
  started.catch((error: unknown) => {
    onMessage({ t: now(), type: 'fatal', message: error instanceof Error ? error.message : String(error) });
    done();
  });
  let closing = false;
  return {
    pid: process.pid,
    get running() {
      return running;
    },
    exited,
    // A SIGKILL has no in-process equivalent; the script skips that fault here.
    kill: () => {},
    close: () => {
      if (closing) return;
      closing = true;
      void started.then((w) => w.close()).then(done, done);
    },
  };
}
