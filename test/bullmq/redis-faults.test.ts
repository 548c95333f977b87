/**
 * Redis faults under a PartitionedWorker: its connections killed with CLIENT KILL (as `npm run chaos`
 * does). The Workers must reconnect and go on fetching by themselves, without a lease change.
 */
import { createClient } from 'dbleases';
import { PartitionedQueue, PartitionedWorker } from 'dbleases/bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { testSchema } from '../helpers/db.js';
import { uniqueName } from '../helpers/env.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { deletePrefix, redisClient } from './helpers.js';

const prefix = uniqueName('bullmq-redis-faults', 'brf');
let db: Awaited<ReturnType<typeof testSchema>>;
let redis: Redis;
let admin: Redis;

beforeAll(async () => {
  db = await testSchema('bullmq-redis-faults');
  redis = redisClient();
  admin = redisClient();
});
afterAll(async () => {
  await deletePrefix(admin, prefix);
  await Promise.all([redis.quit(), admin.quit()]);
  await db.drop();
});

/** Kills every Redis connection whose name ends with `:w:<clientId>` (the partition Workers' own). */
async function killWorkerConnections(clientId: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((line) => new RegExp(`name=\\S*:w:${clientId}( |$)`).test(line))
    .map((line) => /id=(\d+)/.exec(line)![1]!);
  for (const id of ids) await admin.client('KILL', 'ID', id);
  return ids.length;
}

describe('PartitionedWorker under Redis faults', () => {
  it('resumes fetching within seconds after its blocking connections are killed', async () => {
    const client = await createClient(db.pool, 'rk-1', { schema: db.schema, ttl: 1000, heartbeat: 250 });
    const queue = new PartitionedQueue('rk', { partitions: 2, connection: redis, prefix });
    const done: string[] = [];
    const worker = new PartitionedWorker<{ key: string }>('rk', async (job) => void done.push(job.data.key), {
      client,
      partitions: 2,
      connection: redis,
      prefix,
    });
    worker.on('error', () => {});
    try {
      await nextEvent(worker, 'assigned', { filter: () => worker.partitions().length === 2 });
      await queue.add('j', { key: 'before' }, { partitionKey: 'before' });
      await waitFor(() => done.includes('before'), { message: 'a job before the fault' });

      expect(await killWorkerConnections('rk-1')).toBeGreaterThanOrEqual(2);
      const killedAt = performance.now();
      await queue.add('j', { key: 'after' }, { partitionKey: 'after' });
      await waitFor(() => done.includes('after'), { timeout: 20_000, message: 'the job after the fault' });
      // The partition keeps its owner: no failover is needed for the work to go on.
      expect(performance.now() - killedAt).toBeLessThan(10_000);
      expect(worker.partitions()).toEqual([0, 1]);
    } finally {
      await worker.close();
      await queue.close();
      await client.close();
    }
  });
});
