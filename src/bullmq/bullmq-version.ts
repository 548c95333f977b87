/**
 * Refuses a BullMQ this adapter was not tested with, at import time, with one line naming the
 * installed and the supported versions (an older BullMQ fails later and far less clearly: `queue.getBackend
 * is not a function`, then a stream of misleading connection errors). BullMQ exports no version, so it
 * is read from the `package.json` of the copy that `import 'bullmq'` resolves to from here.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { DbleasesError } from '../errors.js';

/** The peer range in package.json; CI runs the BullMQ suites on its lowest and newest 6.x. */
export const SUPPORTED_BULLMQ = '>=6.0.0 <7.0.0';
const MIN: Version = [6, 0, 0];
const BELOW: Version = [7, 0, 0];

type Version = [number, number, number];

function parse(text: string): Version | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** The installed BullMQ: its version and where it is, or undefined when it cannot be read. */
export function installedBullmq(from = import.meta.url): { version: string; dir: string } | undefined {
  const require = createRequire(from);
  let dir: string;
  try {
    dir = dirname(require.resolve('bullmq/package.json'));
  } catch {
    try {
      // An exports map without ./package.json: walk up from the entry point.
      dir = dirname(require.resolve('bullmq'));
      while (!readPackage(dir) && dirname(dir) !== dir) dir = dirname(dir);
    } catch {
      return undefined;
    }
  }
  const pkg = readPackage(dir);
  return pkg ? { version: pkg.version, dir } : undefined;
}

function readPackage(dir: string): { version: string } | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    return pkg.name === 'bullmq' && typeof pkg.version === 'string' ? { version: pkg.version } : undefined;
  } catch {
    return undefined;
  }
}

/** Throws `UNSUPPORTED_PEER_VERSION` unless `version` is in the supported range. */
export function checkBullmqVersion(version: string, where?: string): void {
  const v = parse(version);
  if (v && compare(v, MIN) >= 0 && compare(v, BELOW) < 0) return;
  throw new DbleasesError(
    'UNSUPPORTED_PEER_VERSION',
    `dbleases/bullmq needs bullmq ${SUPPORTED_BULLMQ}, but bullmq ${version} is installed${where ? ` (${where})` : ''}: npm install bullmq@6`,
  );
}

const installed = installedBullmq();
// Unreadable (an unusual install layout): let the import itself decide rather than guess.
if (installed) checkBullmqVersion(installed.version, installed.dir);
