/** The example that mounts bull-board and the dashboard in one Express app, with links both ways. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createApp } from '../../examples/dashboard-with-bull-board.js';
import type { PartitionedQueue } from '../../src/bullmq/index.js';
import type { Dashboard } from '../../src/dashboard/index.js';
import { REDIS_URL, uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, openEvents, request, startClient, type Started, waitFor } from './helpers.js';

const pool = newPool();
const schema = uniqueName('dashboard-bull-board');
const prefix = uniqueName('dashboard-bull-board', 'bull');
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
let server: Server;
let base: string;
let dashboard: Dashboard;
let queue: PartitionedQueue;
let worker: Started;

beforeAll(async () => {
  const made = await createApp({ pool, redis, name: 'orders', partitions: 4, schema, prefix });
  dashboard = made.dashboard;
  queue = made.queue;
  worker = await startClient(pool, 'worker-1', schema, 'orders', 4);
  await waitFor('all partitions', () => worker.lease.values().length === 4);
  await queue.add('charge', {}, { partitionKey: 'k1' });
  server = createServer(made.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await dashboard?.close();
  await worker?.client.close();
  await queue?.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await dropSchema(pool, schema);
  await pool.end();
});

describe('bull-board next to the dashboard (examples/dashboard-with-bull-board.ts)', () => {
  it('serves bull-board with a link to the dashboard, and the partition queues', async () => {
    const page = await request(`${base}/queues`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('/leases/');
    const api = await request(`${base}/queues/api/queues`);
    expect(api.status).toBe(200);
    const names = (JSON.parse(api.body) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    expect(names).toEqual(['orders-0', 'orders-1', 'orders-2', 'orders-3']);
  });

  it('serves the dashboard under /leases/ with a link back to bull-board', async () => {
    const redirect = await request(`${base}/leases`);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe('/leases/');
    const page = await request(`${base}/leases/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<a href="/queues">Queues (bull-board)</a>');
    const api = JSON.parse((await request(`${base}/leases/api/leases`)).body) as {
      leases: { partitions: { owner: string; jobs?: { waiting: number } }[] }[];
    };
    expect(api.leases[0]?.partitions.every((p) => p.owner === 'worker-1')).toBe(true);
    // The queue was found through the partition count dbleases/bullmq recorded in Redis.
    expect(api.leases[0]?.partitions.reduce((n, p) => n + (p.jobs?.waiting ?? 0), 0)).toBe(1);
    const stream = await openEvents(`${base}/leases/events`);
    expect(stream.status).toBe(200);
    await stream.next((e) => e.event === 'snapshot');
    stream.close();
    // Paths the dashboard does not know fall through to Express.
    expect((await request(`${base}/leases/nope`)).status).toBe(404);
  });

  it('mounted at the root of an app, leaves the other routes alone', async () => {
    const app = express();
    app.use(dashboard.handler);
    app.post('/orders', (_req, res) => void res.status(201).send('created'));
    const other = createServer(app);
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    try {
      expect(
        (await request(`${url}/orders`, { method: 'POST', headers: { Host: 'shop.example' } })).status,
      ).toBe(201);
      expect((await request(`${url}/api/leases`)).status).toBe(200);
      expect((await request(`${url}/api/leases`, { headers: { Host: 'shop.example' } })).status).toBe(403);
    } finally {
      other.closeAllConnections();
      await new Promise((r) => other.close(r));
    }
  });
});
