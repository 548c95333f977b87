import { createHash } from 'node:crypto';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A schema (or Redis prefix) name unique to one test file, so files can run in parallel:
 * `t_` + a hash of the file path and the process id (rerunning never meets a half-cleaned schema).
 */
export function uniqueName(seed: string, tag = 't'): string {
  const hash = createHash('sha1')
    .update(`${seed}:${process.pid}:${Date.now()}:${Math.random()}`)
    .digest('hex');
  return `${tag}_${hash.slice(0, 12)}`;
}
