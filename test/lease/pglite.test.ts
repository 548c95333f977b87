/**
 * The store's contract on both backends: node-postgres (plain pool and Drizzle) and PGlite (plain and
 * Drizzle). PGlite serves one process, so its clients share one in-process database.
 */
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClient, type LeaseClient, type LeaseHandle } from '../../src/index.js';
import { testSchema } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

let pgdb: Awaited<ReturnType<typeof testSchema>>;
const pglites: PGlite[] = [];

beforeAll(async () => {
  pgdb = await testSchema('pglite-contract');
});
afterAll(async () => {
  await pgdb.drop();
  for (const p of pglites) await p.close();
});

const backends: [string, () => Promise<{ db: unknown; schema: string }>][] = [
  ['pg.Pool', async () => ({ db: pgdb.pool, schema: `${pgdb.schema}` })],
  ['Drizzle on node-postgres', async () => ({ db: drizzlePg(pgdb.pool), schema: `${pgdb.schema}_d` })],
  [
    'PGlite',
    async () => {
      const p = new PGlite();
      pglites.push(p);
      return { db: p, schema: 'public' };
    },
  ],
  [
    'Drizzle on PGlite',
    async () => {
      const p = new PGlite();
      pglites.push(p);
      return { db: drizzlePglite(p), schema: 'leases' };
    },
  ],
];

describe.each(backends)('store contract on %s', (_name, make) => {
  const clients: LeaseClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (_name === 'Drizzle on node-postgres')
      await pgdb.pool.query(`DROP SCHEMA IF EXISTS "${pgdb.schema}_d" CASCADE`);
  });

  it('splits, hands over on close, counts epochs, records history, refuses duplicates and size mismatches', async () => {
    const { db, schema } = await make();
    const opts = { schema, ttl: 1000, heartbeat: 250 };
    const a = await createClient(db, 'a', opts);
    const b = await createClient(db, 'b', opts);
    clients.push(a, b);
    a.on('error', () => {});
    b.on('error', () => {});
    const [la, lb] = [a.lease('orders', 10), b.lease('orders', 10)] as [LeaseHandle, LeaseHandle];
    await waitFor(() => la.values().length === 5 && lb.values().length === 5, {
      timeout: 10_000,
      message: 'a 5/5 split',
    });
    expect([...la.values(), ...lb.values()].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    await expect(createClient(db, 'a', opts)).rejects.toMatchObject({ code: 'DUPLICATE_CLIENT_ID' });
    const c = await createClient(db, 'c', opts);
    clients.push(c);
    c.on('error', () => {});
    await expect(c.lease('orders', 12).ready()).rejects.toMatchObject({ code: 'LEASE_SIZE_MISMATCH' });

    const fromA = new Map(la.values().map((p) => [p, la.epoch(p)!]));
    await a.close();
    await waitFor(() => lb.values().length === 10, {
      timeout: 10_000,
      message: 'b to take over after a closed',
    });
    for (const [p, epoch] of fromA) expect(lb.epoch(p)).toBe(epoch + 1);
  });
});
