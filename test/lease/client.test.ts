/**
 * The lease client in one process against the real Postgres: fairness, stickiness, epochs, drain
 * before release, the deadline check, the database cost of a heartbeat, sizes, close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClient, type LeaseClient, type LeaseHandle, type RevokeContext } from '../../src/index.js';
import { testSchema } from '../helpers/db.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

let db: Awaited<ReturnType<typeof testSchema>>;
const open: LeaseClient[] = [];
const FAST = { ttl: 1000, heartbeat: 250 };

beforeAll(async () => {
  db = await testSchema('lease-client');
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => {})));
  await db.drop();
});

async function client(id: string, options: Record<string, unknown> = {}): Promise<LeaseClient> {
  const c = await createClient(db.pool, id, { schema: db.schema, ...FAST, ...options });
  c.on('error', () => {});
  open.push(c);
  return c;
}

const fair = (leases: LeaseHandle[], size: number) => {
  const lists = leases.map((l) => l.values());
  const all = lists.flat().sort((a, b) => a - b);
  const counts = lists.map((l) => l.length);
  return (
    all.length === size && all.every((p, i) => p === i) && Math.max(...counts) - Math.min(...counts) <= 1
  );
};

async function history(lease: string) {
  const { rows } = await db.pool.query(
    `SELECT partition, from_client, to_client, epoch::int AS epoch, reason FROM "${db.schema}".db_leases_history WHERE lease_name = $1 ORDER BY id`,
    [lease],
  );
  return rows as {
    partition: number;
    from_client: string | null;
    to_client: string;
    epoch: number;
    reason: string;
  }[];
}

describe('fair and sticky', () => {
  it('splits ±1, a joiner takes only its share from the others, and a leaver gives its partitions to the others only', async () => {
    const N = 30;
    const cs = await Promise.all(['fa', 'fb', 'fc'].map((id) => client(id)));
    const ls = cs.map((c) => c.lease('fair', N));
    await waitFor(() => fair(ls, N), { message: '3 clients balanced' });
    const before = new Map(ls.map((l, i) => [cs[i]!.id, l.values()]));
    const moves0 = (await history('fair')).length;

    const d = await client('fd');
    const ld = d.lease('fair', N);
    await waitFor(() => fair([...ls, ld], N), { message: '4 clients balanced' });
    const joinMoves = (await history('fair')).slice(moves0);
    expect(joinMoves.length).toBeLessThanOrEqual(Math.ceil(N / 4) + 1);
    expect(joinMoves.every((m) => m.to_client === 'fd')).toBe(true);
    // Nothing moved between two clients that both stayed.
    for (const [i, l] of ls.entries())
      expect(before.get(cs[i]!.id)).toEqual(expect.arrayContaining(l.values()));

    const moves1 = (await history('fair')).length;
    const leaving = ls[0]!.values();
    await cs[0]!.close();
    await waitFor(() => fair([ls[1]!, ls[2]!, ld], N), { message: '3 clients balanced after a leave' });
    const leaveMoves = (await history('fair')).slice(moves1);
    expect(leaveMoves.map((m) => m.partition).sort((a, b) => a - b)).toEqual(leaving);
    expect(leaveMoves.every((m) => m.from_client === 'fa' && m.reason === 'leave')).toBe(true);
  });

  it('increments the epoch on every change of owner', async () => {
    const a = await client('ea');
    const la = a.lease('epochs', 4);
    await waitFor(() => la.values().length === 4);
    const first = la.values().map((p) => la.epoch(p));
    expect(first).toEqual([1, 1, 1, 1]);
    const b = await client('eb');
    const lb = b.lease('epochs', 4);
    await waitFor(() => lb.values().length === 2 && la.values().length === 2);
    for (const p of lb.values()) expect(lb.epoch(p)).toBe(2);
    expect(la.epoch(lb.values()[0]!)).toBeUndefined();
    const moved = (await history('epochs')).filter((m) => m.to_client === 'eb');
    expect(moved.map((m) => m.epoch)).toEqual([2, 2]);
  });
});

describe('drain before release', () => {
  it('removes a partition from values(), awaits the revoke step while renewing, then releases it', async () => {
    const a = await client('da');
    const la = a.lease('drain', 2);
    await waitFor(() => la.values().length === 2);
    let release!: () => void;
    const seen: { values: number[]; ownerInDb: string | null; renewedDuringDrain: boolean }[] = [];
    la.onRevoke(async (ctx: RevokeContext) => {
      if (ctx.reason !== 'rebalance') return;
      const p = ctx.partitions[0]!;
      const owner = async () =>
        (
          await db.pool.query(
            `SELECT owner FROM "${db.schema}".db_leases_partitions WHERE lease_name = 'drain' AND partition = $1`,
            [p],
          )
        ).rows[0].owner;
      const expiry = async () =>
        (
          await db.pool.query(
            `SELECT expires_at FROM "${db.schema}".db_leases_clients WHERE client_id = 'da'`,
          )
        ).rows[0].expires_at.getTime();
      const e0 = await expiry();
      // Hold the drain for two TTLs: the client must keep renewing and nobody may take the partition.
      await new Promise<void>((r) => (release = r));
      seen.push({
        values: la.values(),
        ownerInDb: await owner(),
        renewedDuringDrain: (await expiry()) > e0 + FAST.ttl,
      });
    });
    const b = await client('db');
    const lb = b.lease('drain', 2);
    await waitFor(() => release !== undefined, { message: 'the revoke step to start' });
    const drainStart = performance.now();
    // For two TTLs of drain, nobody gets the draining partition, and its old owner no longer lists it.
    await waitFor(() => performance.now() - drainStart > 2 * FAST.ttl, { timeout: 10_000 });
    expect(lb.values()).toEqual([]);
    expect(la.values()).toHaveLength(1);
    const moved = la.values()[0] === 0 ? 1 : 0;
    release();
    await waitFor(() => lb.values().length === 1 && seen.length === 1, { message: 'the handover' });
    expect(lb.values()).toEqual([moved]);
    expect(seen[0]!.values).not.toContain(moved);
    expect(seen[0]!.ownerInDb).toBe('da');
    expect(seen[0]!.renewedDuringDrain).toBe(true);
  });

  it('hands a released partition over through NOTIFY, long before the next heartbeat could notice', async () => {
    const slow = { ttl: 20_000, heartbeat: 10_000 };
    const a = await client('na', slow);
    const la = a.lease('notify', 8);
    await waitFor(() => la.values().length === 8);
    const b = await client('nb', slow);
    const lb = b.lease('notify', 8);
    const t0 = performance.now();
    await waitFor(() => lb.values().length === 4 && la.values().length === 4, {
      timeout: 5000,
      message: 'a handover by NOTIFY',
    });
    expect(performance.now() - t0).toBeLessThan(slow.heartbeat);
    const t1 = performance.now();
    await a.close();
    await waitFor(() => lb.values().length === 8, { timeout: 5000, message: 'a takeover after close' });
    expect(performance.now() - t1).toBeLessThan(slow.heartbeat);
  });

  it('still converges by polling with notify: false', async () => {
    const a = await client('pa', { notify: false });
    const b = await client('pb', { notify: false });
    const ls = [a.lease('poll', 6), b.lease('poll', 6)];
    await waitFor(() => fair(ls, 6), { timeout: 10_000, message: 'a fair split by polling' });
  });
});

describe('self-fencing', () => {
  it('values() is empty once the deadline passed, even before any timer ran', async () => {
    const a = await client('fence');
    const la = a.lease('fence', 4);
    await waitFor(() => la.values().length === 4);
    const lost = nextEvent(a, 'lost');
    // Block the event loop past the TTL: no heartbeat, no timer can run meanwhile.
    const end = performance.now() + FAST.ttl + 50;
    while (performance.now() < end) {
      /* busy */
    }
    expect(la.values()).toEqual([]);
    expect(la.epoch(0)).toBeUndefined();
    await lost;
    await waitFor(() => la.values().length === 4, { timeout: 5000, message: 're-claiming after the fence' });
    expect(la.epoch(la.values()[0]!)).toBeGreaterThan(1);
  });
});

describe('self-fencing during a drain', () => {
  it('aborts the signal of a running drain at once when the client fences itself', async () => {
    const a = await client('sd1');
    const la = a.lease('fence-drain', 2);
    await waitFor(() => la.values().length === 2);
    let aborted = false;
    la.onRevoke(async ({ signal, reason }) => {
      if (reason !== 'rebalance') return;
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      aborted = true;
    });
    const b = await client('sd2');
    b.lease('fence-drain', 2);
    await waitFor(() => la.values().length === 1, { message: 'the drain to start' });
    const end = performance.now() + FAST.ttl + 50; // block past the TTL: the deadline passes mid-drain
    while (performance.now() < end) {
      /* busy */
    }
    // drainTimeout is 30 s: only the self-fence can abort the drain's signal this soon.
    await waitFor(() => aborted, { timeout: 2000, message: 'the drain signal to abort' });
  });
});

describe('connections', () => {
  it('clients on one pool share one LISTEN connection, so ten of them fit a pool of four', async () => {
    const { default: pg } = await import('pg');
    const small = new pg.Pool({
      connectionString: process.env.DATABASE_URL,
      max: 4,
      application_name: 'dbl-shared-listen',
    });
    small.on('error', () => {});
    const cs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createClient(small, `sh${i}`, { schema: db.schema, ...FAST })),
    );
    try {
      const ls = cs.map((c) => c.lease('shared', 20));
      await waitFor(() => fair(ls, 20), { timeout: 15_000, message: '10 clients balanced' });
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'dbl-shared-listen' AND query ILIKE 'LISTEN%'`,
      );
      expect(rows[0].n).toBe(1);
      // A release still wakes the others at once through the shared connection.
      await cs[0]!.close();
      await waitFor(() => fair(ls.slice(1), 20), {
        timeout: 5000,
        message: '9 clients balanced after a close',
      });
    } finally {
      await Promise.all(cs.map((c) => c.close()));
      await small.end();
    }
  });
});

describe('cheap for the database', () => {
  it('a steady-state heartbeat is one statement and rewrites only the client row', async () => {
    const a = await client('cheap', { ttl: 2000, heartbeat: 250 });
    const la = a.lease('cheap', 64);
    await waitFor(() => la.values().length === 64);
    const xmins = async (table: string, where: string) =>
      (
        await db.pool.query(
          `SELECT xmin::text AS x FROM "${db.schema}".db_leases_${table} WHERE ${where} ORDER BY 1`,
        )
      ).rows
        .map((r) => r.x)
        .join();
    const parts0 = await xmins('partitions', "lease_name = 'cheap'");
    const client0 = await xmins('clients', "client_id = 'cheap'");
    let statements = 0;
    const realQuery = db.pool.query.bind(db.pool);
    // Other clients of this file share the pool: count the statements that carry this client's id.
    (db.pool as unknown as { query: unknown }).query = (text: string, values?: unknown[]) => {
      if (Array.isArray(values) && values.includes('cheap')) statements++;
      return realQuery(text, values);
    };
    let beats = 0;
    const onBeat = () => beats++;
    a.on('heartbeat', onBeat);
    try {
      await waitFor(() => beats >= 4, { timeout: 5000 });
    } finally {
      (db.pool as unknown as { query: unknown }).query = realQuery;
      a.off('heartbeat', onBeat);
    }
    expect(statements).toBeLessThanOrEqual(beats + 1);
    expect(await xmins('partitions', "lease_name = 'cheap'")).toBe(parts0);
    expect(await xmins('clients', "client_id = 'cheap'")).not.toBe(client0);
  });
});

describe('sizes and lifecycle', () => {
  it('refuses a size that differs from the live clients of a lease', async () => {
    const a = await client('sa');
    await a.lease('sized', 8).ready();
    const b = await client('sb');
    const lb = b.lease('sized', 4);
    await expect(lb.ready()).rejects.toMatchObject({
      code: 'LEASE_SIZE_MISMATCH',
      message: expect.stringMatching(/has size 8 among live clients \("sa"\), got size 4/),
    });
    expect(lb.values()).toEqual([]);
    expect(() => a.lease('sized', 16)).toThrow(/already opened on this client with size 8, got size 16/);
    expect(a.lease('sized', 8)).toBe(a.lease('sized', 8));
  });

  it('lease.close() hands one lease over and leaves it while the client stays; the lease can be opened again', async () => {
    const a = await client('la');
    const b = await client('lb');
    const [la, lb] = [a.lease('solo', 6), b.lease('solo', 6)];
    await waitFor(() => fair([la, lb], 6));
    const revoked: string[] = [];
    la.onRevoke(({ reason }) => void revoked.push(reason));
    await Promise.all([la.close(), la.close()]);
    expect(revoked).toEqual(['close']);
    expect(la.values()).toEqual([]);
    await waitFor(() => lb.values().length === 6, { timeout: 5000, message: 'b to take the lease over' });
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*) FROM "${db.schema}".db_leases_members WHERE client_id = 'la' AND lease_name = 'solo')::int AS members,
              (SELECT count(*) FROM "${db.schema}".db_leases_clients WHERE client_id = 'la')::int AS clients`,
    );
    expect(rows[0]).toEqual({ members: 0, clients: 1 });
    const again = a.lease('solo', 6);
    expect(again).not.toBe(la);
    await waitFor(() => fair([again, lb], 6), { timeout: 5000, message: 'a fair split after reopening' });
  });

  it('close is safe to call twice at once, releases everything and leaves no rows', async () => {
    const a = await client('ca');
    const la = a.lease('close', 4);
    await waitFor(() => la.values().length === 4);
    await Promise.all([a.close(), a.close()]);
    expect(la.values()).toEqual([]);
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*) FROM "${db.schema}".db_leases_clients WHERE client_id = 'ca')::int AS clients,
              (SELECT count(*) FROM "${db.schema}".db_leases_members WHERE client_id = 'ca')::int AS members,
              (SELECT count(*) FROM "${db.schema}".db_leases_partitions WHERE owner = 'ca')::int AS owned`,
    );
    expect(rows[0]).toEqual({ clients: 0, members: 0, owned: 0 });
    expect(() => a.lease('close', 4)).toThrow(expect.objectContaining({ code: 'CLIENT_CLOSED' }));
  });
});
