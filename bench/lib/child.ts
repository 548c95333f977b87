/**
 * Benchmark child processes: a TypeScript file run through tsx with an IPC channel. Messages are
 * plain JSON objects with a `type`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Message {
  type: string;
  [key: string]: unknown;
}

export class BenchChild {
  readonly proc: ChildProcess;
  readonly label: string;
  #listeners = new Set<(msg: Message) => void>();
  #exited: Promise<number | null>;
  stderr = '';

  constructor(file: string, label: string, env: Record<string, string>, execArgv: string[] = []) {
    this.label = label;
    const path = fileURLToPath(new URL(`../${file}`, import.meta.url));
    this.proc = fork(path, [], {
      execArgv: ['--import', 'tsx', ...execArgv],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.proc.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.proc.on('message', (msg) => {
      for (const listener of this.#listeners) listener(msg as Message);
    });
    this.#exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  on(listener: (msg: Message) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  send(msg: Message): void {
    if (this.proc.connected) this.proc.send(msg);
  }

  /** The next message of `type` (optionally matching `where`), or a rejection after `timeoutMs` or if the child exits. */
  next(type: string, timeoutMs: number, where: (msg: Message) => boolean = () => true): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new Error(
            `${this.label}: no '${type}' message within ${timeoutMs} ms. stderr: ${this.stderr.slice(-1500)}`,
          ),
        );
      }, timeoutMs);
      const off = this.on((msg) => {
        if (msg.type === type && where(msg)) {
          clearTimeout(timer);
          off();
          resolve(msg);
        }
      });
      void this.#exited.then((code) => {
        clearTimeout(timer);
        off();
        reject(
          new Error(`${this.label} exited (${code}) before '${type}'. stderr: ${this.stderr.slice(-1500)}`),
        );
      });
    });
  }

  exited(): Promise<number | null> {
    return this.#exited;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }

  /** Asks the child to stop (`{ type: 'stop' }`), waits up to `timeoutMs`, then SIGKILLs it. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }
}
