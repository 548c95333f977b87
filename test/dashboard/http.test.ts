/**
 * The dashboard over HTTP against real Postgres, real lease clients and real Redis: every endpoint, the
 * escaping of database strings, the token rules (bearer, cookie, login form, SSE) and live updates.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PartitionedQueue } from '../../src/bullmq/index.js';
import { createDashboard, type Dashboard, type LeaseView, type Snapshot } from '../../src/dashboard/index.js';
import { notifyChannel } from '../../src/lease/store.js';
import { DATABASE_URL, REDIS_URL, uniqueName } from '../helpers/env.js';
import {
  dropSchema,
  newPool,
  openEvents,
  request,
  startClient,
  type Started,
  waitBalanced,
  waitFor,
} from './helpers.js';

const EVIL = '<img src=x onerror=alert(1)>';
const TOKEN = 'correct horse battery staple';
const SIZE = 8;

const pool = newPool();
const schema = uniqueName('dashboard-http');
const bullPrefix = uniqueName('dashboard-http', 'bull');
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
let a: Started;
let b: Started;
let queue: PartitionedQueue;
let open: Dashboard;
let openUrl: string;
let locked: Dashboard;
let lockedUrl: string;

beforeAll(async () => {
  a = await startClient(pool, 'worker-a', schema, 'orders', SIZE);
  b = await startClient(pool, EVIL, schema, 'orders', SIZE);
  await waitBalanced([a, b], SIZE);
  queue = new PartitionedQueue('orders', {
    partitions: SIZE,
    connection: redis,
    prefix: bullPrefix,
    ordered: false,
  });
  open = createDashboard({ db: pool, schema, connection: redis, prefix: bullPrefix });
  openUrl = (await open.listen(0)).url;
  locked = createDashboard({ db: pool, schema, token: TOKEN });
  lockedUrl = (await locked.listen(0)).url;
});

afterAll(async () => {
  await open?.close();
  await locked?.close();
  await Promise.all([a?.client.close(), b?.client.close()]);
  await queue?.close();
  const keys = await redis.keys(`${bullPrefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await dropSchema(pool, schema);
  await pool.end();
});

const getJson = async <T>(url: string, headers: Record<string, string> = {}) => {
  const res = await request(url, { headers });
  return { ...res, json: JSON.parse(res.body) as T };
};

describe('page', () => {
  it('serves one HTML page with a nonce CSP and no database strings in it', async () => {
    const res = await request(openUrl);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    const nonce = csp.match(/script-src 'nonce-([^']+)'/)?.[1];
    expect(nonce).toBeTruthy();
    expect(res.body).toContain(`<script nonce="${nonce}">`);
    expect(csp).toContain("default-src 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    // Data only ever reaches the page through the script (textContent), never through this HTML.
    expect(res.body).not.toContain('worker-a');
    expect(res.body).not.toContain('onerror=alert');
    expect(res.body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('is read-only', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await request(`${openUrl}api/leases`, { method });
      expect(res.status, method).toBe(405);
    }
  });

  it('answers only loopback Host names when it has no token (DNS rebinding)', async () => {
    const res = await request(`${openUrl}api/leases`, { headers: { Host: 'attacker.example' } });
    expect(res.status).toBe(403);
    expect((await request(`${openUrl}api/leases`, { headers: { Host: 'localhost:1234' } })).status).toBe(200);
  });

  it('404s unknown paths', async () => {
    expect((await request(`${openUrl}nope`)).status).toBe(404);
  });
});

describe('JSON API', () => {
  it('GET /api/leases lists leases, partitions with owner/epoch/expiry, and clients', async () => {
    const { status, headers, body, json } = await getJson<Pick<Snapshot, 'now' | 'leases' | 'clients'>>(
      `${openUrl}api/leases`,
    );
    expect(status).toBe(200);
    expect(headers['content-type']).toMatch(/^application\/json/);
    // `<` is escaped in the raw JSON text; the parsed value is the exact id.
    expect(body).not.toContain('<img');
    const [lease] = json.leases;
    expect(lease).toMatchObject({ name: 'orders', size: SIZE, owned: SIZE, unowned: 0 });
    expect(lease?.members.sort()).toEqual([EVIL, 'worker-a'].sort());
    for (const p of lease?.partitions ?? []) {
      expect(p.status).toBe('owned');
      expect([EVIL, 'worker-a']).toContain(p.owner);
      expect(p.epoch).toBeGreaterThanOrEqual(1);
      expect(Date.parse(p.expiresAt ?? '')).toBeGreaterThan(Date.parse(json.now) - 1);
    }
    const byId = Object.fromEntries(json.clients.map((c) => [c.id, c]));
    expect(byId['worker-a']?.partitions.orders).toEqual(a.lease.values());
    expect(byId[EVIL]?.partitions.orders).toEqual(b.lease.values());
    expect(byId[EVIL]).toMatchObject({ state: 'live', count: b.lease.values().length });
    expect(byId['worker-a']?.heartbeatAgeMs).toBeLessThan(1000);
    expect(byId['worker-a']?.info).toMatchObject({ pid: process.pid });
    // Epochs agree with what the owners' leases report (the fencing tokens).
    for (const p of a.lease.values()) expect(lease?.partitions[p]?.epoch).toBe(a.lease.epoch(p));
  });

  it('GET /api/leases/:name returns one lease and its clients; 404 for an unknown name', async () => {
    const { status, json } = await getJson<{ lease: LeaseView; clients: { id: string }[] }>(
      `${openUrl}api/leases/orders`,
    );
    expect(status).toBe(200);
    expect(json.lease.name).toBe('orders');
    expect(json.lease.partitions).toHaveLength(SIZE);
    expect(json.clients.map((c) => c.id).sort()).toEqual([EVIL, 'worker-a'].sort());
    const missing = await getJson<{ error: string }>(
      `${openUrl}api/leases/${encodeURIComponent('no such/lease')}`,
    );
    expect(missing.status).toBe(404);
    expect(missing.json.error).toContain('no such/lease');
  });

  it('GET /api/history returns moves newest first, per lease, with a bounded limit', async () => {
    const all = await getJson<{
      history: { id: number; lease: string; reason: string; to: string | null; at: string }[];
    }>(`${openUrl}api/history?lease=orders`);
    expect(all.status).toBe(200);
    expect(all.json.history.length).toBeGreaterThanOrEqual(SIZE);
    const ids = all.json.history.map((m) => m.id);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    expect(all.json.history.every((m) => m.lease === 'orders')).toBe(true);
    // Whichever client started first took free partitions ('join'); the other got its share handed over.
    expect(all.json.history.some((m) => m.reason === 'join')).toBe(true);
    expect(
      all.json.history.some((m) => m.to === 'worker-a' && ['join', 'rebalance'].includes(m.reason)),
    ).toBe(true);
    const two = await getJson<{ history: unknown[] }>(`${openUrl}api/history?lease=orders&limit=2`);
    expect(two.json.history).toHaveLength(2);
    expect((await getJson(`${openUrl}api/history?lease=other`)).json).toMatchObject({ history: [] });
    expect((await request(`${openUrl}api/history?limit=0`)).status).toBe(400);
    expect((await request(`${openUrl}api/history?limit=5000`)).status).toBe(400);
  });

  it('reports waiting/active/delayed/failed counts of each partition queue when Redis is given', async () => {
    const key = 'customer-17';
    const p = queue.partitionFor(key);
    await queue.add('charge', { n: 1 }, { partitionKey: key });
    await queue.add('charge', { n: 2 }, { partitionKey: key });
    await queue.add('later', { n: 3 }, { partitionKey: key, delay: 60_000 });
    const { json } = await getJson<{ leases: LeaseView[]; redis: { prefix: string; error: string | null } }>(
      `${openUrl}api/leases`,
    );
    expect(json.redis).toEqual({ prefix: bullPrefix, error: null });
    const part = json.leases[0]?.partitions[p];
    expect(part?.queue).toBe(queue.queueName(p));
    expect(part?.jobs).toEqual({ waiting: 2, active: 0, delayed: 1, failed: 0 });
    const other = json.leases[0]?.partitions[(p + 1) % SIZE];
    expect(other?.jobs).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
  });
});

describe('token', () => {
  const bearer = { Authorization: `Bearer ${TOKEN}` };

  it('refuses every endpoint without the token and with a wrong one', async () => {
    for (const path of ['api/leases', 'api/leases/orders', 'api/history', 'metrics', 'events']) {
      const none = await request(lockedUrl + path);
      expect(none.status, path).toBe(401);
      expect(none.headers['www-authenticate'], path).toMatch(/^Bearer/);
      expect(none.body, path).not.toContain('worker-a');
      expect(
        (await request(lockedUrl + path, { headers: { Authorization: `Bearer ${TOKEN}x` } })).status,
        path,
      ).toBe(401);
      expect(
        (await request(lockedUrl + path, { headers: { Cookie: 'dbleases_token=wrong-token' } })).status,
        path,
      ).toBe(401);
    }
  });

  it('serves the login form instead of the page, without data', async () => {
    const res = await request(lockedUrl);
    expect(res.status).toBe(401);
    expect(res.body).toContain('<form');
    expect(res.body).toContain('name="token"');
    expect(res.body).not.toContain('worker-a');
  });

  it('accepts the bearer token', async () => {
    const res = await getJson<{ leases: unknown[] }>(`${lockedUrl}api/leases`, bearer);
    expect(res.status).toBe(200);
    expect(res.json.leases).toHaveLength(1);
    expect((await request(`${lockedUrl}metrics`, { headers: bearer })).status).toBe(200);
    expect((await request(lockedUrl, { headers: bearer })).status).toBe(200);
  });

  it('sets an HttpOnly SameSite cookie from the login form, and accepts it', async () => {
    const wrong = await request(`${lockedUrl}login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'token=nope-nope-nope',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const ok = await request(`${lockedUrl}login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: TOKEN }).toString(),
    });
    expect(ok.status).toBe(303);
    const cookie = String(ok.headers['set-cookie']?.[0]);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const pair = cookie.split(';')[0] as string;
    expect((await request(lockedUrl, { headers: { Cookie: pair } })).status).toBe(200);
    expect(
      (await request(`${lockedUrl}api/leases`, { headers: { Cookie: `other=1; ${pair}` } })).status,
    ).toBe(200);
  });

  it('puts the event stream under the same rule', async () => {
    const refused = await openEvents(`${lockedUrl}events`);
    expect(refused.status).toBe(401);
    refused.close();
    for (const headers of [bearer, { Cookie: `dbleases_token=${encodeURIComponent(TOKEN)}` }]) {
      const stream = await openEvents(`${lockedUrl}events`, headers);
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      const first = await stream.next((e) => e.event === 'snapshot');
      expect((JSON.parse(first.data) as Snapshot).leases[0]?.name).toBe('orders');
      stream.close();
    }
  });

  it('needs a token to bind a non-loopback address', async () => {
    const d = createDashboard({ db: pool, schema });
    await expect(d.listen(0, '0.0.0.0')).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('token'),
    });
    await d.close();
    const t = createDashboard({ db: pool, schema, token: TOKEN });
    const { port } = await t.listen(0, '0.0.0.0');
    expect((await request(`http://127.0.0.1:${port}/api/leases`)).status).toBe(401);
    expect((await request(`http://127.0.0.1:${port}/api/leases`, { headers: bearer })).status).toBe(200);
    await t.close();
  });

  it('validates options with messages that name them', () => {
    expect(() => createDashboard({ db: pool, token: 'short' })).toThrow(/`token`/);
    expect(() => createDashboard({ db: pool, schema: 'Bad-Schema' })).toThrow(/`schema`/);
    expect(() => createDashboard({ db: {} })).toThrow(/`db`/);
    expect(() => createDashboard({ db: pool, pollInterval: 1 } as never)).toThrow(/`pollInterval`/);
    expect(() => createDashboard({ db: pool, colour: 'red' } as never)).toThrow(/`colour`/);
  });
});

describe('live updates', () => {
  it('pushes a snapshot within 1 s of an ownership change, and a clock event in between', async () => {
    const stream = await openEvents(`${openUrl}events`);
    expect(stream.status).toBe(200);
    const first = JSON.parse((await stream.next((e) => e.event === 'snapshot')).data) as Snapshot;
    expect(first.clients.map((c) => c.id).sort()).toEqual([EVIL, 'worker-a'].sort());
    const clock = JSON.parse((await stream.next((e) => e.event === 'clock', 3_000)).data) as {
      heartbeatAgeMs: Record<string, number>;
    };
    expect(clock.heartbeatAgeMs['worker-a']).toBeLessThan(1000);

    // A third client joins: the moment its lease confirms partitions (the database changed before that),
    // the stream must deliver a snapshot showing them within 1 s.
    let confirmedAt = 0;
    let confirmed: number[] = [];
    const c = await startClient(pool, 'worker-c', schema, 'orders', SIZE);
    try {
      c.lease.on('change', ({ values }) => {
        if (confirmedAt === 0 && values.length > 0) {
          confirmedAt = performance.now();
          confirmed = values;
        }
      });
      const shown = await stream.next((e) => {
        if (e.event !== 'snapshot') return false;
        const s = JSON.parse(e.data) as Snapshot;
        return (s.clients.find((x) => x.id === 'worker-c')?.count ?? 0) > 0;
      }, 10_000);
      await waitFor('the lease to confirm', () => confirmedAt > 0);
      const s = JSON.parse(shown.data) as Snapshot;
      const owned = s.clients.find((x) => x.id === 'worker-c')?.partitions.orders ?? [];
      expect(owned).toEqual(expect.arrayContaining(confirmed));
      expect(shown.at - confirmedAt).toBeLessThan(1000);
      expect(s.history[0]?.to === 'worker-c' || s.history.some((m) => m.to === 'worker-c')).toBe(true);
    } finally {
      await c.client.close();
    }
    // Its graceful leave shows too: the partitions go back to the two others.
    await stream.next(
      (e) =>
        e.event === 'snapshot' && !(JSON.parse(e.data) as Snapshot).clients.some((x) => x.id === 'worker-c'),
      5_000,
    );
    stream.close();
    await waitBalanced([a, b], SIZE);
  });

  it("wakes on the lease core's NOTIFY: a join shows within 1 s even with a 10 s poll", async () => {
    // Its own pool, named, so the test can see its LISTEN connection come and go.
    const own = new pg.Pool({ connectionString: DATABASE_URL, application_name: 'dashboard-notify-test' });
    const listening = async () =>
      Number(
        (
          await pool.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'dashboard-notify-test' AND query = $1`,
            [`LISTEN "${notifyChannel(schema, 'db_leases')}"`],
          )
        ).rows[0]?.n,
      );
    const slow = createDashboard({ db: own, schema, pollInterval: 10_000 });
    const { url } = await slow.listen(0);
    const stream = await openEvents(`${url}events`);
    try {
      await stream.next((e) => e.event === 'snapshot');
      await waitFor('the dashboard to LISTEN', async () => (await listening()) === 1);
      const d = await startClient(pool, 'worker-d', schema, 'orders', SIZE);
      try {
        await d.lease.ready();
        const joinedAt = performance.now();
        const shown = await stream.next(
          (e) =>
            e.event === 'snapshot' &&
            ((JSON.parse(e.data) as Snapshot).leases[0]?.members.includes('worker-d') ?? false),
          5_000,
        );
        expect(shown.at - joinedAt).toBeLessThan(1000);
      } finally {
        await d.client.close();
      }
      // The last viewer leaving gives the LISTEN connection back.
      stream.close();
      await waitFor('the LISTEN connection to be released', async () => (await listening()) === 0);
    } finally {
      stream.close();
      await slow.close();
      await own.end();
    }
    await waitBalanced([a, b], SIZE);
  });

  it('ends the streams on close()', async () => {
    const d = createDashboard({ db: pool, schema });
    const { url } = await d.listen(0);
    const stream = await openEvents(`${url}events`);
    await stream.next((e) => e.event === 'snapshot');
    await d.close();
    await d.close(); // twice is fine
    await expect(request(`${url}api/leases`)).rejects.toThrow();
  });
});
