/**
 * What a PartitionedWorker tells: `assigned`/`revoked` describe the Workers it actually ran, and one
 * client runs at most one PartitionedWorker per name (a second would share, then lose, its lease).
 */
import { createClient, type LeaseClient } from 'dbleases';
import { PartitionedWorker } from 'dbleases/bullmq';
import { describe, expect, it } from 'vitest';

import { waitFor } from '../helpers/wait.js';
import { bullmqTestEnv } from './helpers.js';

const env = bullmqTestEnv('bullmq-events', 'be');

async function client(id: string): Promise<LeaseClient> {
  const c = await createClient(env.db.pool, id, { schema: env.db.schema, ttl: 1000, heartbeat: 250 });
  env.cleanup.push(() => c.close());
  return c;
}

function worker(name: string, c: LeaseClient, partitions: number): PartitionedWorker<unknown, undefined> {
  const w = new PartitionedWorker(name, async () => undefined, {
    client: c,
    partitions,
    connection: env.redis,
    prefix: env.prefix,
  });
  w.on('error', () => {});
  env.cleanup.push(() => w.close());
  return w;
}

describe('PartitionedWorker events', () => {
  it('two workers starting together: every revoked partition was assigned before, and the events add up to what runs', async () => {
    const [c1, c2] = await Promise.all([client('ev-1'), client('ev-2')]);
    const logs = new Map<string, string[]>();
    const replay = new Map<string, Set<number>>();
    const problems: string[] = [];
    const workers = [c1, c2].map((c) => {
      const w = worker('together', c, 32);
      const log: string[] = [];
      const held = new Set<number>();
      logs.set(c.id, log);
      replay.set(c.id, held);
      w.on('assigned', (ps) => {
        log.push(`assigned ${ps.join(',')}`);
        for (const p of ps) {
          if (held.has(p)) problems.push(`${c.id}: ${p} assigned twice`);
          held.add(p);
        }
      });
      w.on('revoked', ({ partitions, reason }) => {
        log.push(`revoked ${partitions.join(',')} (${reason})`);
        for (const p of partitions) {
          if (!held.has(p)) problems.push(`${c.id}: ${p} revoked but never assigned`);
          held.delete(p);
        }
      });
      return w;
    });
    await waitFor(() => workers.every((w) => w.partitions().length === 16), {
      message: 'a 16/16 split',
      timeout: 15_000,
    });
    expect(problems, JSON.stringify([...logs])).toEqual([]);
    for (const [i, w] of workers.entries()) {
      const id = [c1, c2][i]!.id;
      expect(
        [...replay.get(id)!].sort((a, b) => a - b),
        JSON.stringify(logs.get(id)),
      ).toEqual(w.partitions());
    }
  });

  it('refuses a second worker of the same name on one client, and allows one once the first closed', async () => {
    const c = await client('dup-1');
    const first = worker('dup', c, 2);
    expect(() => worker('dup', c, 2)).toThrow(
      expect.objectContaining({
        code: 'DUPLICATE_WORKER',
        message: expect.stringContaining('A PartitionedWorker for "dup" already runs on client "dup-1"'),
      }),
    );
    const other = worker('dup-other', c, 2); // another name on the same client is fine
    await waitFor(() => first.partitions().length === 2 && other.partitions().length === 2, {
      message: 'both to run',
    });
    await first.close();
    const second = worker('dup', c, 2);
    await waitFor(() => second.partitions().length === 2, {
      message: 'the replacement to run every partition',
    });
  });
});
