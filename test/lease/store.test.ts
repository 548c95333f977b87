/** The store's conditional writes, statement by statement, against the real Postgres. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { migrate, toDbPort } from '../../src/index.js';
import { Store } from '../../src/lease/store.js';
import { testSchema } from '../helpers/db.js';

let db: Awaited<ReturnType<typeof testSchema>>;
let store: Store;

beforeAll(async () => {
  db = await testSchema('store');
  const port = toDbPort(db.pool);
  await migrate(port, { schema: db.schema, tablePrefix: 'db_leases', timeoutMs: 5000 });
  store = new Store(port, db.schema, 'db_leases');
});
afterAll(async () => {
  await db.drop();
});

const owner = async (p: number) =>
  (
    await db.pool.query(
      `SELECT owner, epoch::int AS epoch FROM "${db.schema}".db_leases_partitions WHERE lease_name = 's' AND partition = $1`,
      [p],
    )
  ).rows[0];

describe('Store', () => {
  it('a late release carrying an old epoch cannot free a partition re-claimed since', async () => {
    expect(await store.register('a', 'ia', 5000, {})).toBeNull();
    await store.joinLease('a', 's', 2);
    expect(await store.claim('a', 'ia', 's', [{ partition: 0, epoch: 0 }])).toEqual([
      { partition: 0, epoch: 1 },
    ]);
    expect(await store.release('a', 's', [{ partition: 0, epoch: 1 }], 'rebalance')).toEqual([0]);
    expect(await store.claim('a', 'ia', 's', [{ partition: 0, epoch: 1 }])).toEqual([
      { partition: 0, epoch: 2 },
    ]);
    // The release of epoch 1 arrives again, late: it must not touch epoch 2.
    expect(await store.release('a', 's', [{ partition: 0, epoch: 1 }], 'rebalance')).toEqual([]);
    expect(await owner(0)).toEqual({ owner: 'a', epoch: 2 });
  });

  it("a claim with a stale epoch, or of a live owner's partition, fails", async () => {
    expect(await store.register('b', 'ib', 5000, {})).toBeNull();
    await store.joinLease('b', 's', 2);
    expect(await store.claim('b', 'ib', 's', [{ partition: 0, epoch: 2 }])).toEqual([]); // a is live
    expect(await store.claim('b', 'ib', 's', [{ partition: 1, epoch: 7 }])).toEqual([]); // stale epoch
    expect(await store.claim('b', 'ib', 's', [{ partition: 1, epoch: 0 }])).toEqual([
      { partition: 1, epoch: 1 },
    ]);
  });

  it('an expired owner cannot renew, and its partitions can then be claimed', async () => {
    await db.pool.query(
      `UPDATE "${db.schema}".db_leases_clients SET expires_at = clock_timestamp() - interval '1 ms' WHERE client_id = 'a'`,
    );
    const hb = await store.heartbeat('a', 'ia', 5000, ['s']);
    expect(hb.renewed).toBe(false);
    expect(await store.claim('b', 'ib', 's', [{ partition: 0, epoch: 2 }])).toEqual([
      { partition: 0, epoch: 3 },
    ]);
    expect(await owner(0)).toEqual({ owner: 'b', epoch: 3 });
    const moves = await db.pool.query(
      `SELECT from_client, to_client, reason FROM "${db.schema}".db_leases_history WHERE partition = 0 ORDER BY id DESC LIMIT 1`,
    );
    expect(moves.rows[0]).toEqual({ from_client: 'a', to_client: 'b', reason: 'crash' });
  });
});
