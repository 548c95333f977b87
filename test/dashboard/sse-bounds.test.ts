/**
 * Event streams are bounded (issue #15, finding 7): on a 4096-partition lease whose ownership keeps
 * changing, raw sockets that send the SSE request and never read are disconnected once their unsent
 * bytes would pass `maxStreamBuffer` (the server's buffer per stream stays bounded), a reader that
 * keeps up is never cut off, and past `maxStreams` a stream is refused with 503.
 */
import net from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDashboard, type Dashboard, type Snapshot } from '../../src/dashboard/index.js';
import { toDbPort } from '../../src/lease/db.js';
import { migrate } from '../../src/lease/migrate.js';
import { uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, openEvents, request, type SseStream, waitFor } from './helpers.js';

const SIZE = 4096;
const MAX_STREAMS = 8;
const MAX_BUFFER = 256 * 1024;
const SLOW = MAX_STREAMS - 1;

const pool = newPool();
const schema = uniqueName('dashboard-sse-bounds');
const t = (name: string) => `"${schema}"."db_leases_${name}"`;
const sockets: net.Socket[] = [];
let reader: SseStream | undefined;
let dashboard: Dashboard;
let port: number;

/** Two clients that stay live for an hour own the lease, alternating; no lease client runs. */
async function writeBigLease(): Promise<void> {
  await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
  await pool.query(`INSERT INTO ${t('leases')} (lease_name, size) VALUES ('big', ${SIZE})`);
  await pool.query(
    `INSERT INTO ${t('clients')} (client_id, instance, expires_at, heartbeat_at, state, info) VALUES
       ('alpha', 'i1', clock_timestamp() + interval '1 hour', clock_timestamp(), 'live', '{}'),
       ('beta', 'i2', clock_timestamp() + interval '1 hour', clock_timestamp(), 'live', '{}')`,
  );
  await pool.query(
    `INSERT INTO ${t('members')} (lease_name, client_id) VALUES ('big', 'alpha'), ('big', 'beta')`,
  );
  await pool.query(
    `INSERT INTO ${t('partitions')} (lease_name, partition, owner, epoch, owned_since)
     SELECT 'big', p, CASE WHEN p % 2 = 0 THEN 'alpha' ELSE 'beta' END, 1, clock_timestamp()
     FROM generate_series(0, ${SIZE - 1}) p`,
  );
}

/** Every partition changes owner: the next poll pushes a new full snapshot to every stream. */
async function swapOwners(): Promise<number> {
  const { rows } = await pool.query<{ epoch: number }>(
    `UPDATE ${t('partitions')} SET owner = CASE WHEN owner = 'alpha' THEN 'beta' ELSE 'alpha' END,
       epoch = epoch + 1, owned_since = clock_timestamp() WHERE lease_name = 'big' RETURNING epoch`,
  );
  return Number(rows[0]?.epoch);
}

/** Sends the SSE request on a raw socket that never reads what comes back. */
function pausedStream(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.pause();
    s.on('error', () => {}); // the server resets it when it gives up on it
    sockets.push(s);
    s.once('connect', () => {
      s.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function metric(name: string): Promise<number> {
  const { body } = await request(`http://127.0.0.1:${port}/metrics`);
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not in /metrics`);
  return Number(line.slice(name.length + 1));
}

beforeAll(async () => {
  await writeBigLease();
  dashboard = createDashboard({
    db: pool,
    schema,
    pollInterval: 50,
    historyLimit: 0,
    maxStreams: MAX_STREAMS,
    maxStreamBuffer: MAX_BUFFER,
  });
  port = (await dashboard.listen(0)).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  reader?.close();
  await dashboard?.close();
  await dropSchema(pool, schema);
  await pool.end();
});

describe('event stream bounds', () => {
  it('caps the open streams, and disconnects readers that stop reading while a reader that keeps up stays', async () => {
    reader = await openEvents(`http://127.0.0.1:${port}/events`);
    expect(reader.status).toBe(200);
    const first = await reader.next((e) => e.event === 'snapshot');
    let largestFrame = first.data.length;
    for (let i = 0; i < SLOW; i++) await pausedStream();
    expect(await metric('dbleases_dashboard_streams_slow_disconnected_total')).toBe(0);
    await waitFor(
      'every stream to be open',
      async () => (await metric('dbleases_dashboard_streams')) === MAX_STREAMS,
    );

    // One more is refused, saying which option bounds it.
    const refused = await request(`http://127.0.0.1:${port}/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(JSON.parse(refused.body).error).toContain('at most 8 (option `maxStreams`)');
    expect(await metric('dbleases_dashboard_streams_refused_total')).toBe(1);

    // Ownership keeps moving; the reader sees every change; the paused ones are cut off.
    const deadline = performance.now() + 45_000;
    let cycles = 0;
    while ((await metric('dbleases_dashboard_streams_slow_disconnected_total')) < SLOW) {
      if (performance.now() > deadline) throw new Error(`slow streams still open after ${cycles} cycles`);
      const epoch = await swapOwners();
      cycles++;
      const seen = await reader.next(
        (e) =>
          e.event === 'snapshot' &&
          (JSON.parse(e.data) as Snapshot).leases[0]?.partitions[0]?.epoch === epoch,
        10_000,
      );
      largestFrame = Math.max(largestFrame, seen.data.length);
      // The server never holds more per stream than the bound, or one event on an otherwise empty buffer.
      const now = await metric('dbleases_dashboard_stream_buffered_bytes');
      expect(now).toBeLessThanOrEqual(Math.max(MAX_BUFFER, 16 * 1024 + largestFrame + 64));
    }
    expect(largestFrame).toBeGreaterThan(300_000); // 4096 partitions: each snapshot is big
    const peak = await metric('dbleases_dashboard_stream_buffered_bytes_peak');
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(Math.max(MAX_BUFFER, 16 * 1024 + largestFrame + 64));
    await waitFor(
      'only the reader to remain',
      async () => (await metric('dbleases_dashboard_streams')) === 1,
    );

    // The reader was never cut off: it still gets the next change.
    const epoch = await swapOwners();
    await reader.next(
      (e) =>
        e.event === 'snapshot' && (JSON.parse(e.data) as Snapshot).leases[0]?.partitions[0]?.epoch === epoch,
    );
    // Room again: a new stream is accepted.
    const again = await openEvents(`http://127.0.0.1:${port}/events`);
    expect(again.status).toBe(200);
    again.close();
  });

  it('validates the bounds, naming the option', () => {
    expect(() => createDashboard({ db: pool, maxStreams: 0 })).toThrow(
      'Expected `maxStreams` to be an integer from 1 to 10000, got `0` (number)',
    );
    expect(() => createDashboard({ db: pool, maxStreamBuffer: 1024 })).toThrow(
      'Expected `maxStreamBuffer` to be an integer from 65536 to 268435456, got `1024` (number)',
    );
    expect(() => createDashboard({ db: pool, maxStreams: '5' as never })).toThrow(/`maxStreams`.*\(string\)/);
  });
});
