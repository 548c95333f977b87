/**
 * States and statuses the live tests cannot hold still (draining, expired, unowned), from rows written
 * into real migrated tables; and the dashboard's /metrics text on that fixed picture.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDashboard, type Dashboard, readSnapshot, tableNames } from '../../src/dashboard/index.js';
import { toDbPort } from '../../src/lease/db.js';
import { uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, openEvents, writeFixture } from './helpers.js';

const pool = newPool();
const schema = uniqueName('dashboard-snapshot');
let dashboard: Dashboard;
let url: string;

beforeAll(async () => {
  await writeFixture(pool, schema);
  dashboard = createDashboard({ db: pool, schema });
  url = (await dashboard.listen(0)).url;
});

afterAll(async () => {
  await dashboard?.close();
  await dropSchema(pool, schema);
  await pool.end();
});

describe('snapshot', () => {
  it('derives client states and partition statuses by the database clock', async () => {
    const s = await readSnapshot(toDbPort(pool), tableNames(schema, 'db_leases'), 10);
    const state = Object.fromEntries(s.clients.map((c) => [c.id, c.state]));
    expect(state).toEqual({ alpha: 'live', 'closing-one': 'draining', ghost: 'expired' });
    const lease = s.leases[0];
    expect(lease).toMatchObject({ name: 'static', size: 6, owned: 4, unowned: 2 });
    expect(lease?.partitions.map((p) => p.status)).toEqual([
      'owned',
      'owned',
      'owned',
      'owned',
      'expired',
      'unowned',
    ]);
    expect(lease?.partitions[4]).toMatchObject({ owner: 'ghost', epoch: 5 });
    expect(lease?.partitions[5]).toMatchObject({ owner: null, epoch: 2, expiresAt: null, ownedSince: null });
    const alpha = s.clients.find((c) => c.id === 'alpha');
    expect(alpha).toMatchObject({
      partitions: { static: [0, 1, 2] },
      count: 3,
      info: { pid: 11, hostname: 'host-a' },
    });
    expect(alpha?.heartbeatAgeMs).toBeGreaterThanOrEqual(150);
    expect(alpha?.heartbeatAgeMs).toBeLessThan(5_000);
    // An expired client owns nothing validly.
    expect(s.clients.find((c) => c.id === 'ghost')).toMatchObject({ count: 0, partitions: {} });
    expect(s.history.map((m) => m.reason)).toEqual(['self-fence', 'rebalance', 'join']);
    expect(s.history[1]).toMatchObject({
      lease: 'static',
      partition: 4,
      from: 'alpha',
      to: 'ghost',
      epoch: 5,
    });
  });

  it('honours the history limit', async () => {
    const s = await readSnapshot(toDbPort(pool), tableNames(schema, 'db_leases'), 1);
    expect(s.history).toHaveLength(1);
  });
});

describe('event stream when the database read fails', () => {
  it('says so with repeated `problem` events, and recovers', async () => {
    const stream = await openEvents(`${url}events`);
    try {
      await stream.next((e) => e.event === 'snapshot');
      // A real failure: the table the snapshot reads disappears (renamed) and comes back.
      await pool.query(`ALTER TABLE "${schema}"."db_leases_partitions" RENAME TO db_leases_partitions_away`);
      try {
        const first = await stream.next((e) => e.event === 'problem');
        expect(JSON.parse(first.data)).toEqual({
          message: expect.stringMatching(/^No dbleases tables in schema .*db_leases_partitions/),
        });
        const again = await stream.next((e) => e.event === 'problem', 3_000);
        expect(again.at - first.at).toBeGreaterThanOrEqual(900);
      } finally {
        await pool.query(
          `ALTER TABLE "${schema}"."db_leases_partitions_away" RENAME TO db_leases_partitions`,
        );
      }
      const cleared = await stream.next(
        (e) => e.event === 'problem' && JSON.parse(e.data).message === null,
        3_000,
      );
      expect(cleared).toBeTruthy();
      await stream.next((e) => e.event === 'clock' || e.event === 'snapshot', 3_000);
    } finally {
      stream.close();
    }
  });
});

describe('/metrics', () => {
  it('exposes ownership, unowned partitions, clients, renewal age and moves in Prometheus text', async () => {
    const res = await fetch(`${url}metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('dbleases_partitions_owned{lease="static",client="alpha"} 3');
    expect(text).toContain('dbleases_partitions_owned{lease="static",client="closing-one"} 1');
    expect(text).not.toMatch(/dbleases_partitions_owned\{[^}]*client="ghost"/);
    expect(text).toContain('dbleases_partitions_unowned{lease="static"} 2');
    expect(text).toContain('dbleases_lease_size{lease="static"} 6');
    expect(text).toContain('dbleases_clients{state="expired"} 1');
    expect(text).toContain('dbleases_clients{state="draining"} 1');
    expect(text).toMatch(/dbleases_seconds_since_renewal\{client="ghost"\} [5-9]\.\d+/);
    expect(text).toContain('dbleases_moves_total{lease="static",reason="rebalance"} 1');
    expect(text).toContain('dbleases_moves_total{lease="static",reason="self-fence"} 1');
    // Without Redis, no queue series.
    expect(text).not.toMatch(/^dbleases_queue_jobs\{/m);
    // Nothing from the global registry (process metrics) leaks in.
    expect(text).not.toContain('process_cpu');
  });

  it('counts only new moves on the next scrape', async () => {
    await fetch(`${url}metrics`);
    await pool.query(
      `INSERT INTO "${schema}"."db_leases_history" (lease_name, partition, from_client, to_client, epoch, reason)
       VALUES ('static', 5, NULL, 'alpha', 3, 'join'), ('static', 3, 'closing-one', 'alpha', 5, 'leave')`,
    );
    const text = await (await fetch(`${url}metrics`)).text();
    expect(text).toContain('dbleases_moves_total{lease="static",reason="join"} 2');
    expect(text).toContain('dbleases_moves_total{lease="static",reason="leave"} 1');
    expect(text).toContain('dbleases_moves_total{lease="static",reason="rebalance"} 1');
  });
});
