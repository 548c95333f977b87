/**
 * bull-board and the dbleases dashboard side by side in one Express app, each linking to the other:
 * bull-board shows the jobs of every partition queue (its "connected workers" carry the client ids), the
 * dashboard shows which client owns which partition. Both are read-only here.
 *
 *   npx tsx examples/dashboard-with-bull-board.ts
 *   open http://127.0.0.1:3000/leases/ and http://127.0.0.1:3000/queues
 *
 * Run examples/worker.ts and examples/producer.ts next to it to see partitions move and queues fill.
 */
import { pathToFileURL } from 'node:url';

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { migrate, toDbPort } from 'dbleases';
import { PartitionedQueue } from 'dbleases/bullmq';
import { createDashboard, type Dashboard } from 'dbleases/dashboard';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';

export interface AppOptions {
  pool: pg.Pool;
  redis: Redis;
  /** The partitioned queue (= lease) name and its partition count, as the workers use them. */
  name: string;
  partitions: number;
  schema?: string;
  /** BullMQ key prefix. */
  prefix?: string;
  /** Where the app is served, for the links between the two. */
  leasesPath?: string;
  queuesPath?: string;
}

export async function createApp(
  options: AppOptions,
): Promise<{ app: Express; dashboard: Dashboard; queue: PartitionedQueue }> {
  const {
    pool,
    redis,
    name,
    partitions,
    schema = 'public',
    prefix = 'bull',
    leasesPath = '/leases',
    queuesPath = '/queues',
  } = options;
  // The dashboard reads the lease tables: make sure they exist even before the first worker starts.
  await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });

  const queue = new PartitionedQueue(name, { partitions, connection: redis, prefix });
  await queue.waitUntilReady();

  const board = new ExpressAdapter();
  board.setBasePath(queuesPath);
  createBullBoard({
    queues: Array.from(
      { length: partitions },
      (_, p) => new BullMQAdapter(queue.queue(p), { readOnlyMode: true }),
    ),
    serverAdapter: board,
    options: {
      uiConfig: {
        boardTitle: `${name} partitions`,
        miscLinks: [{ text: 'Partition owners', url: `${leasesPath}/` }],
      },
    },
  });

  const dashboard = createDashboard({
    db: pool,
    schema,
    connection: redis,
    prefix,
    links: [{ text: 'Queues (bull-board)', url: queuesPath }],
  });

  const app = express();
  app.use(queuesPath, board.getRouter());
  app.use(leasesPath, dashboard.handler);
  return { app, dashboard, queue };
}

async function main(): Promise<void> {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const { app, dashboard, queue } = await createApp({ pool, redis, name: 'orders', partitions: 16 });
  const server = app.listen(3000, '127.0.0.1', () => {
    console.log('dbleases dashboard: http://127.0.0.1:3000/leases/');
    console.log('bull-board:         http://127.0.0.1:3000/queues');
  });
  const stop = async () => {
    server.close();
    await dashboard.close();
    await queue.close();
    redis.disconnect();
    await pool.end();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
