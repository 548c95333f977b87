/**
 * A strict TypeScript consumer of all three entry points, copied into a fresh project that installed
 * the packed tarball: compiled there with tsc and run with node. A worker and a producer on a unique
 * schema and Redis prefix (argv); prints one JSON line with what ran, then closes everything.
 */
import { createClient, DbleasesError, type LeaseClient } from 'dbleases';
import { jobPartition, PartitionedQueue, PartitionedWorker } from 'dbleases/bullmq';
import { clientMetrics, createDashboard, type Snapshot } from 'dbleases/dashboard';
import { Redis } from 'ioredis';
import pg from 'pg';

interface Order {
  key: string;
  seq: number;
}

const [schema = 'public', prefix = 'bull', count = '60'] = process.argv.slice(2);
const JOBS = Number(count);
const PARTITIONS = 8;

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const client: LeaseClient = await createClient(pool, 'consumer-1', { schema, ttl: 2_000, heartbeat: 500 });
const metrics = clientMetrics(client);

// Typed processor parameter: compiles because job.data follows BullMQ's `any` default.
async function charge(order: Order, fence: { partition: number; epoch: number }): Promise<void> {
  if (order.seq < 0 || fence.epoch < 1) throw new Error('impossible');
}

const lastSeq = new Map<string, number>();
let processed = 0;
let outOfOrder = 0;
let done!: () => void;
const allDone = new Promise<void>((resolve) => (done = resolve));

const worker = new PartitionedWorker(
  'orders',
  async (job) => {
    const { partition, epoch } = jobPartition(job)!;
    await charge(job.data, { partition, epoch });
    if ((lastSeq.get(job.data.key) ?? -1) !== job.data.seq - 1) outOfOrder++;
    lastSeq.set(job.data.key, job.data.seq);
    if (++processed === JOBS) done();
  },
  { client, partitions: PARTITIONS, connection: redis, prefix },
);
worker.on('error', (error: Error) => console.error(`worker error: ${error.message}`));
await worker.waitUntilReady();

const queue = new PartitionedQueue<Order>('orders', { partitions: PARTITIONS, connection: redis, prefix });
for (let i = 0; i < JOBS; i++) {
  const key = `customer-${i % 7}`;
  await queue.add('charge', { key, seq: Math.floor(i / 7) }, { partitionKey: key });
}

// A bound, not a wait: the consumer waits on `allDone` and fails loudly if the jobs never all arrive.
const deadline = setTimeout(() => {
  console.error(`timed out: ${processed}/${JOBS} processed`);
  process.exit(1);
}, 30_000);
await allDone;
clearTimeout(deadline);

const dashboard = createDashboard({ db: pool, schema, connection: redis, prefix });
const snapshot: Snapshot = await dashboard.snapshot();
const exposition = await metrics.registry.metrics();
const wrongOptions = await Promise.resolve()
  .then(() => createClient(pool, '', { schema }))
  .then(
    () => 'accepted',
    (error: unknown) => (error instanceof DbleasesError ? error.code : 'other'),
  );

console.log(
  JSON.stringify({
    processed,
    outOfOrder,
    owned: worker.partitions().length,
    leases: snapshot.leases.map((l) => ({ name: l.name, size: l.size, owned: l.owned })),
    metrics: exposition.length > 0,
    wrongOptions,
  }),
);

await dashboard.close();
metrics.stop();
await worker.close();
await queue.close();
await client.close();
redis.disconnect();
await pool.end();
