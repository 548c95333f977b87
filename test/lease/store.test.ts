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

  it("a partition named after a live client that is not a member (it left, or never joined) can be claimed; a non-member's claim is refused", async () => {
    expect(await store.register('m1', 'im1', 5000, {})).toBeNull();
    expect(await store.register('m2', 'im2', 5000, {})).toBeNull();
    await store.joinLease('m1', 'lv', 2);
    // m2 is registered (its client row is live) but never joined lease lv: it cannot claim there.
    expect(await store.claim('m2', 'im2', 'lv', [{ partition: 0, epoch: 0 }])).toEqual([]);
    expect(await store.claim('m1', 'im1', 'lv', [{ partition: 0, epoch: 0 }])).toEqual([
      { partition: 0, epoch: 1 },
    ]);
    await store.joinLease('m2', 'lv', 2);
    expect(await store.claim('m2', 'im2', 'lv', [{ partition: 0, epoch: 1 }])).toEqual([]); // m1 is a live member
    // m1 leaves while its row lives (a lease.close() on a client that stays open): the leave itself
    // releases what is still named m1's, and even a row left behind would not block m2.
    await db.pool.query(
      `DELETE FROM "${db.schema}".db_leases_members WHERE lease_name = 'lv' AND client_id = 'm1'`,
    );
    expect(await store.claim('m2', 'im2', 'lv', [{ partition: 0, epoch: 1 }])).toEqual([
      { partition: 0, epoch: 2 },
    ]);
  });

  it('leaveLease releases every partition still named mine in that lease, and only there', async () => {
    expect(await store.register('l1', 'il1', 5000, {})).toBeNull();
    await store.joinLease('l1', 'la', 2);
    await store.joinLease('l1', 'lb', 1);
    await store.claim('l1', 'il1', 'la', [
      { partition: 0, epoch: 0 },
      { partition: 1, epoch: 0 },
    ]);
    await store.claim('l1', 'il1', 'lb', [{ partition: 0, epoch: 0 }]);
    expect(await store.leaveLease('l1', 'la')).toBe(2);
    const rows = await db.pool.query(
      `SELECT lease_name, partition, owner, release_reason FROM "${db.schema}".db_leases_partitions
       WHERE lease_name IN ('la', 'lb') ORDER BY 1, 2`,
    );
    expect(rows.rows).toEqual([
      { lease_name: 'la', partition: 0, owner: null, release_reason: 'leave' },
      { lease_name: 'la', partition: 1, owner: null, release_reason: 'leave' },
      { lease_name: 'lb', partition: 0, owner: 'l1', release_reason: null },
    ]);
    const members = await db.pool.query(
      `SELECT lease_name FROM "${db.schema}".db_leases_members WHERE client_id = 'l1' ORDER BY 1`,
    );
    expect(members.rows).toEqual([{ lease_name: 'lb' }]);
  });
});
