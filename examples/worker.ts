/**
 * A worker process: joins the `orders` lease and runs one BullMQ Worker per partition it owns.
 * Start two or three in separate terminals and watch them split the 16 partitions; stop one with
 * Ctrl-C (graceful handover) or `kill -9` (taken over after the lease TTL).
 *
 *   npx tsx examples/worker.ts worker-a
 *   npx tsx examples/worker.ts worker-b
 *   npx tsx examples/producer.ts
 */
import { createClient } from 'dbleases';
import { jobPartition, PartitionedWorker } from 'dbleases/bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

const id = process.argv[2] ?? `worker-${process.pid}`;
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
});
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });

const schema = process.env.DBLEASES_SCHEMA ?? 'public';
const prefix = process.env.BULL_PREFIX ?? 'bull';
const client = await createClient(pool, id, { ttl: 6_000, heartbeat: 2_000, schema });

const worker = new PartitionedWorker<{ customer: string; seq: number }, void>(
  'orders',
  async (job, _token, signal) => {
    // The partition and its fencing epoch: pass the epoch along with writes that must be fenced.
    const { partition, epoch } = jobPartition(job)!;
    await new Promise((resolve) => setTimeout(resolve, 50));
    signal?.throwIfAborted();
    console.log(`${id} p${partition}@${epoch} ${job.data.customer} #${job.data.seq}`);
  },
  { client, partitions: 16, connection: redis, prefix },
);

worker.on('assigned', (partitions) =>
  console.log(`${id} + started ${partitions.join(',')} → owns [${worker.partitions().join(',')}]`),
);
worker.on('revoked', ({ partitions, reason }) =>
  console.log(
    `${id} - stopped ${partitions.join(',')} (${reason}) → owns [${worker.partitions().join(',')}]`,
  ),
);
worker.on('recovered', ({ partition, jobIds }) =>
  console.log(`${id} recovered jobs ${jobIds.join(',')} of p${partition} from a crashed owner`),
);
worker.on('failed', (job, error, partition, willRetry) =>
  console.log(
    `${id} job ${job?.id} of p${partition} failed: ${error.message}${willRetry ? ' (retrying in place)' : ''}`,
  ),
);
worker.on('error', (error) => console.error(`${id} error: ${error.message}`));
await worker.waitUntilReady();
console.log(`${id} ready`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log(`${id} closing: draining in-flight jobs, then handing the partitions over`);
  await client.close(); // runs the revoke step (closes the partition Workers), releases the partitions
  await worker.close();
  await redis.quit();
  await pool.end();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
