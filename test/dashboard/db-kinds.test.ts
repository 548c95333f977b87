/**
 * The dashboard accepts the same `db` kinds as createClient: a pg.Pool (the other files), a Drizzle
 * database on node-postgres, PGlite, and Drizzle on PGlite. A missing schema gives a clear error.
 */
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { afterAll, describe, expect, it } from 'vitest';

import { createDashboard, type Snapshot } from '../../src/dashboard/index.js';
import { createClient } from '../../src/index.js';
import { uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, openEvents, request, SHORT, waitFor, writeFixture } from './helpers.js';

const pool = newPool();
const schema = uniqueName('dashboard-db-kinds');

afterAll(async () => {
  await dropSchema(pool, schema);
  await pool.end();
});

async function leasesOf(db: unknown, options: { schema?: string } = {}): Promise<Snapshot['leases']> {
  const dashboard = createDashboard({ db, ...options });
  const { url } = await dashboard.listen(0);
  try {
    const res = await request(`${url}api/leases`);
    expect(res.status).toBe(200);
    return (JSON.parse(res.body) as Snapshot).leases;
  } finally {
    await dashboard.close();
  }
}

describe('db kinds', () => {
  it('reads through Drizzle on node-postgres', async () => {
    await writeFixture(pool, schema);
    const leases = await leasesOf(drizzlePg(pool), { schema });
    expect(leases[0]).toMatchObject({ name: 'static', size: 6, owned: 4 });
  });

  it('runs on PGlite (directly and under Drizzle), live stream included', async () => {
    const pglite = new PGlite();
    const client = await createClient(pglite, 'solo', SHORT);
    client.on('error', () => {});
    const lease = client.lease('jobs', 4);
    try {
      await waitFor('all partitions', () => lease.values().length === 4);
      for (const db of [pglite, drizzlePglite(pglite)]) {
        const leases = await leasesOf(db);
        expect(leases[0]?.partitions.map((p) => p.owner)).toEqual(['solo', 'solo', 'solo', 'solo']);
      }
      const dashboard = createDashboard({ db: pglite });
      const { url } = await dashboard.listen(0);
      const stream = await openEvents(`${url}events`);
      const s = JSON.parse((await stream.next((e) => e.event === 'snapshot')).data) as Snapshot;
      expect(s.clients.map((c) => c.id)).toEqual(['solo']);
      stream.close();
      await dashboard.close();
    } finally {
      await client.close();
      await pglite.close();
    }
  });

  it('says clearly when the tables are missing', async () => {
    const dashboard = createDashboard({ db: pool, schema: 'no_such_schema_anywhere' });
    const { url } = await dashboard.listen(0);
    try {
      const res = await request(`${url}api/leases`);
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body).error).toMatch(
        /No dbleases tables in schema no_such_schema_anywhere with prefix db_leases/,
      );
    } finally {
      await dashboard.close();
    }
  });
});
