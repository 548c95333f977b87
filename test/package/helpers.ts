/** Running commands for the package tests: tsc, npm and the installed `dbleases`, with one clean env. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TSC = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment without the `npm_*` variables `npm test` sets: a nested npm would read them as
 * its own configuration (and a consumer would not have them).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Runs a command to its end (bounded by `timeoutMs`); never rejects. */
export function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: cleanEnv(options.env),
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `run`, but a non-zero exit throws with the command's output (a setup step that must work). */
export async function must(
  file: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Result> {
  const res = await run(file, args, options);
  if (res.code !== 0)
    throw new Error(`${file} ${args.join(' ')} exited ${res.code}:\n${res.stdout}\n${res.stderr}`);
  return res;
}

/** The tsc diagnostics of a failed run, for an assertion message. */
export function diagnostics(res: Result): string {
  return `${res.stdout}${res.stderr}`.trim();
}
