/**
 * The BullMQ version guard's decision (the refusal on import itself runs in test/package/pack.test.ts,
 * with a real bullmq 5 installed).
 */
import { readFileSync } from 'node:fs';

import { expect, it } from 'vitest';

import { checkBullmqVersion, installedBullmq, SUPPORTED_BULLMQ } from '../../src/bullmq/bullmq-version.js';
import { DbleasesError } from '../../src/errors.js';

it('accepts every 6.x and refuses what is outside with one line naming both versions', () => {
  for (const v of ['6.0.0', '6.7.0', '6.99.1', '6.8.0-beta.1'])
    expect(() => checkBullmqVersion(v)).not.toThrow();
  for (const v of ['5.81.5', '7.0.0', '5.999.999', 'garbage']) {
    let error: unknown;
    try {
      checkBullmqVersion(v, '/app/node_modules/bullmq');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DbleasesError);
    expect((error as DbleasesError).code).toBe('UNSUPPORTED_PEER_VERSION');
    expect((error as DbleasesError).message).toBe(
      `dbleases/bullmq needs bullmq >=6.0.0 <7.0.0, but bullmq ${v} is installed (/app/node_modules/bullmq): npm install bullmq@6`,
    );
  }
});

it('reads the installed version from the bullmq the adapter imports', () => {
  const pkg = JSON.parse(
    readFileSync(new URL('../../node_modules/bullmq/package.json', import.meta.url), 'utf8'),
  ) as {
    version: string;
  };
  expect(installedBullmq()?.version).toBe(pkg.version);
});

it('matches the peer range in package.json', () => {
  const own = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    peerDependencies: Record<string, string>;
  };
  expect(own.peerDependencies.bullmq).toBe('^6.0.0');
  expect(SUPPORTED_BULLMQ).toBe('>=6.0.0 <7.0.0');
});
