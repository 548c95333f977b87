/**
 * Redis Cluster: a local 3-master cluster started by this test from `redis-server` on free loopback
 * ports. With `cluster: true` each partition queue is its own hash tag, so partitions spread over
 * the masters, and a PartitionedWorker processes them all.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { createClient } from 'dbleases';
import { PartitionedQueue, PartitionedWorker } from 'dbleases/bullmq';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { testSchema } from '../helpers/db.js';
import { uniqueName } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const missing = ['redis-server', 'redis-cli'].filter(
  (bin) => spawnSync(bin, ['--version']).error !== undefined,
);

/** A free loopback port whose cluster bus port (+10000) is free too. */
async function freePort(): Promise<number> {
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const { port: got } = server.address() as net.AddressInfo;
        server.close(() => resolve(got));
      });
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    try {
      await listen(port);
      await listen(port + 10_000);
      return port;
    } catch {
      // taken: try another
    }
  }
}

describe.skipIf(missing.length > 0)(
  `Redis Cluster (3 local masters)${missing.length > 0 ? ` — skipped: ${missing.join(' and ')} not installed` : ''}`,
  () => {
    const servers: ChildProcess[] = [];
    let dir = '';
    let ports: number[] = [];
    let cluster: Cluster;
    let db: Awaited<ReturnType<typeof testSchema>>;

    beforeAll(async () => {
      db = await testSchema('bullmq-cluster');
      dir = mkdtempSync(join(tmpdir(), 'dbleases-cluster-'));
      ports = [await freePort(), await freePort(), await freePort()];
      for (const port of ports) {
        const server = spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
          ],
          { stdio: 'ignore' },
        );
        servers.push(server);
      }
      for (const port of ports) {
        await waitFor(
          async () => (await run('redis-cli', ['-p', String(port), 'ping'])).stdout.trim() === 'PONG',
          { message: `redis-server on ${port}` },
        );
      }
      await run('redis-cli', [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      for (const port of ports) {
        await waitFor(
          async () =>
            (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes(
              'cluster_state:ok',
            ),
          {
            message: `cluster state ok on ${port}`,
            timeout: 15_000,
          },
        );
      }
      // A generous slots-refresh timeout: ioredis' 1 s default times out on a loaded 2-core machine
      // (each partition Worker's blocking connection is a duplicate of this Cluster and refreshes too).
      cluster = new Cluster([{ host: '127.0.0.1', port: ports[0]! }], {
        redisOptions: { maxRetriesPerRequest: null },
        slotsRefreshTimeout: 10_000,
      });
    }, 60_000);

    afterAll(async () => {
      await cluster?.quit().catch(() => undefined);
      for (const server of servers) server.kill('SIGKILL');
      await Promise.all(
        servers.map((s) =>
          s.exitCode === null && s.signalCode === null ? new Promise((r) => s.once('exit', r)) : undefined,
        ),
      );
      if (dir) rmSync(dir, { recursive: true, force: true });
      await db?.drop();
    });

    it('spreads partition queues over the masters and processes every job', async () => {
      const name = 'orders';
      const P = 16;
      const prefix = uniqueName('bullmq-cluster', 'bc');
      const queue = new PartitionedQueue(name, { partitions: P, connection: cluster, prefix, cluster: true });
      expect(queue.queueName(5)).toBe('{orders-5}');

      // Which master serves each partition queue's keys (all of one queue share its hash tag).
      const slots = (await cluster.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
      const ownerOf = async (p: number) => {
        const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', `${prefix}:${queue.queueName(p)}:wait`));
        const range = slots.find(([from, to]) => slot >= from && slot <= to)!;
        return range[2][1];
      };
      const owners = new Set(await Promise.all(Array.from({ length: P }, (_, p) => ownerOf(p))));
      expect(owners.size).toBe(3);

      const client = await createClient(db.pool, 'cluster-1', {
        schema: db.schema,
        ttl: 1000,
        heartbeat: 250,
      });
      const done: string[] = [];
      const worker = new PartitionedWorker<{ key: string }, void>(
        name,
        async (job) => void done.push(job.data.key),
        {
          client,
          partitions: P,
          connection: cluster,
          prefix,
          cluster: true,
        },
      );
      const errors: Error[] = [];
      worker.on('error', (e) => errors.push(e));
      try {
        const keys = Array.from({ length: 64 }, (_, i) => `k${i}`);
        await queue.addBulk(keys.map((key) => ({ name: 'j', data: { key }, opts: { partitionKey: key } })));
        await waitFor(() => done.length === keys.length, {
          timeout: 20_000,
          message: 'every job processed on the cluster',
        });
        expect(new Set(done)).toEqual(new Set(keys));
        expect(new Set(keys.map((k) => queue.partitionFor(k))).size).toBeGreaterThan(8);
        expect(errors).toEqual([]);
      } finally {
        await client.close();
        await worker.close();
        await queue.close();
      }
    });
  },
);
