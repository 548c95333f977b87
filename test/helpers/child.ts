import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { waitFor } from './wait.js';

export interface ChildMessage {
  /** Wall-clock ms (performance.timeOrigin + performance.now()) in the child. */
  t: number;
  type: string;
  [key: string]: unknown;
}

/**
 * A TypeScript child process (run through tsx) that prints one JSON object per line on stdout.
 * Every line is kept in `messages`; stderr is kept in `stderr` for failure messages.
 */
export class Child {
  readonly proc: ChildProcess;
  readonly messages: ChildMessage[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(file: string, env: Record<string, string>) {
    const path = fileURLToPath(new URL(`../${file}`, import.meta.url));
    this.proc = spawn(process.execPath, ['--import', 'tsx', path], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      try {
        this.messages.push(JSON.parse(line) as ChildMessage);
      } catch {
        this.stderr += `${line}\n`;
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  last(type: string): ChildMessage | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--)
      if (this.messages[i]!.type === type) return this.messages[i];
    return undefined;
  }

  async waitFor(
    predicate: (m: ChildMessage) => boolean,
    timeout = 15_000,
    what = 'a message',
  ): Promise<ChildMessage> {
    return waitFor(() => this.messages.find(predicate), {
      timeout,
      message: `${what} from child ${this.pid} (stderr: ${this.stderr.slice(-800)})`,
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }

  /** SIGKILLs the child if it still runs and waits for it to exit. */
  async stop(): Promise<void> {
    this.kill('SIGCONT');
    this.kill('SIGKILL');
    await this.exited;
  }
}
