/**
 * Closes that race claims, releases that fail, databases that stop answering, pools too small:
 * a partition is never left named after a member that has left, and no close or start hangs.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createClient, type DbleasesError, type LeaseClient, migrate, toDbPort } from '../../src/index.js';
import { testSchema } from '../helpers/db.js';
import { DATABASE_URL } from '../helpers/env.js';
import { faultyPool } from '../helpers/faulty-pool.js';
import { waitFor } from '../helpers/wait.js';

const TTL = 1000;
const HB = 250;
let db: Awaited<ReturnType<typeof testSchema>>;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  db = await testSchema('lease-close');
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});
afterAll(async () => {
  await db.drop();
});

const CLAIM = 'epoch = p.epoch + 1';
const RELEASE = 'release_reason = $4';

async function client(
  id: string,
  pool: pg.Pool = db.pool,
  extra: { closeTimeout?: number } = {},
): Promise<{ c: LeaseClient; errors: DbleasesError[] }> {
  const c = await createClient(pool, id, { schema: db.schema, ttl: TTL, heartbeat: HB, ...extra });
  const errors: DbleasesError[] = [];
  c.on('error', (e) => errors.push(e as DbleasesError));
  cleanup.push(() => c.close());
  return { c, errors };
}

const owners = async (lease: string) =>
  (
    await db.pool.query<{ partition: number; owner: string | null }>(
      `SELECT partition, owner FROM "${db.schema}".db_leases_partitions WHERE lease_name = $1 ORDER BY 1`,
      [lease],
    )
  ).rows.map((r) => r.owner);

describe('lease.close() racing a claim', () => {
  it.each([
    ['the claim lands after the close began', false],
    ['… and giving the claim back fails too', true],
  ])('%s: the other member takes every partition back', async (_name, releaseFails) => {
    const lease = `race-${releaseFails ? 'f' : 'p'}`;
    const { c: b } = await client(`${lease}-b`);
    const lb = b.lease(lease, 4);
    await waitFor(() => lb.values().length === 4, { message: 'b to own all' });
    const faulty = faultyPool(db.pool);
    const { c: a } = await client(`${lease}-a`, faulty.pool);
    let closing: Promise<void> | undefined;
    let claimSent = false;
    const la = a.lease(lease, 4);
    faulty.intercept((text) => {
      if (text.includes(CLAIM) && !claimSent) {
        // b released 2 and 3 for a; at the moment a's claim is sent, a's lease is closed.
        claimSent = true;
        closing = la.close();
        return 'pass';
      }
      if (releaseFails && claimSent && text.includes(RELEASE)) return 'fail';
      return 'pass';
    });
    await waitFor(() => claimSent, { message: "a's claim to be sent", timeout: 10_000 });
    await closing;
    expect(la.values()).toEqual([]);
    await waitFor(() => lb.values().length === 4, {
      message: 'b to take partitions 2 and 3 back while a lives on',
      timeout: 5 * HB + 2_000,
    });
    expect(await owners(lease)).toEqual([`${lease}-b`, `${lease}-b`, `${lease}-b`, `${lease}-b`]);
  });

  it('a release that fails inside lease.close() does not strand the partitions', async () => {
    const lease = 'release-fails';
    const { c: b } = await client(`${lease}-b`);
    const faulty = faultyPool(db.pool);
    const { c: a, errors } = await client(`${lease}-a`, faulty.pool);
    const la = a.lease(lease, 4);
    const lb = b.lease(lease, 4);
    await waitFor(() => la.values().length === 2 && lb.values().length === 2, { message: 'a 2/2 split' });
    let failed = 0;
    faulty.intercept((text) => (text.includes(RELEASE) && failed++ === 0 ? 'fail' : 'pass'));
    await la.close();
    expect(failed).toBeGreaterThan(0);
    expect(errors.map((e) => e.message)).toContainEqual(expect.stringContaining('injected'));
    await waitFor(() => lb.values().length === 4, { message: 'b to own all', timeout: 5 * HB + 2_000 });
    expect(await owners(lease)).toEqual(Array(4).fill(`${lease}-b`));
  });
});

describe('closes while Postgres does not answer', () => {
  it('client.close() resolves within the drains plus 2 × closeTimeout, reports what it skipped, and the partitions go free with the ttl', async () => {
    const lease = 'blackhole';
    const faulty = faultyPool(db.pool);
    const { c: a, errors } = await client(`${lease}-a`, faulty.pool, { closeTimeout: 300 });
    const la = a.lease(lease, 2);
    let revoked = 0;
    la.onRevoke(() => void revoked++);
    await waitFor(() => la.values().length === 2, { message: 'a to own all' });
    const { c: b } = await client(`${lease}-b`);
    const lb = b.lease(lease, 2);
    await waitFor(() => lb.values().length === 1, { message: 'a 1/1 split' });
    revoked = 0;
    cleanup.push(async () => faulty.answer());
    faulty.hang();
    const started = performance.now();
    await a.close(); // would hang forever before closeTimeout existed
    const took = performance.now() - started;
    expect(revoked).toBe(1); // the drain ran: nothing of a's runs after close()
    expect(errors.map((e) => e.code)).toContain('CLOSE_INCOMPLETE');
    // Upper bound with slack for a loaded machine: markClosing ‖ drain, then the release and the leave.
    expect(took).toBeLessThan(3 * 300 + 1_500);
    await waitFor(() => lb.values().length === 2, {
      message: 'b to own all once a expired',
      timeout: TTL + 3_000,
    });
  });

  it('lease.close() resolves too, and the leave lands once the database answers again', async () => {
    const lease = 'blackhole-lease';
    const faulty = faultyPool(db.pool);
    const { c: a, errors } = await client(`${lease}-a`, faulty.pool, { closeTimeout: 300 });
    const la = a.lease(lease, 2);
    await waitFor(() => la.values().length === 2, { message: 'a to own all' });
    faulty.hang();
    await la.close();
    expect(errors.map((e) => e.code)).toContain('CLOSE_INCOMPLETE');
    faulty.answer();
    await waitFor(
      async () =>
        (
          await db.pool.query(
            `SELECT 1 FROM "${db.schema}".db_leases_members WHERE lease_name = $1 AND client_id = $2`,
            [lease, `${lease}-a`],
          )
        ).rows.length === 0,
      { message: 'the leave to be retried and land', timeout: TTL + 3_000 },
    );
    expect(await owners(lease)).toEqual([null, null]);
  });
});

describe('pool size', () => {
  it('refuses a pool of one connection with notify (LISTEN would starve the heartbeat), accepts it polling', async () => {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    cleanup.push(() => pool.end());
    await expect(
      createClient(pool, 'tiny', { schema: db.schema, ttl: TTL, heartbeat: HB }),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(
        /pg\.Pool's `max` to be at least 2 while `notify` is true.*got `1`.*notify: false/,
      ),
    });
    const c = await createClient(pool, 'tiny', { schema: db.schema, ttl: TTL, heartbeat: HB, notify: false });
    cleanup.push(() => c.close());
    const l = c.lease('tiny', 2);
    await l.ready();
    await waitFor(() => l.values().length === 2, { message: 'the polling client to own all' });
  });
});

describe('a read-only database', () => {
  it('createClient rejects with DATABASE_READ_ONLY, not a raw pg error', async () => {
    const role = `ro_${Math.random().toString(36).slice(2, 8)}`;
    // The schema exists, so only the client's own writes meet the refusal.
    await migrate(toDbPort(db.pool), { schema: db.schema, tablePrefix: 'db_leases', timeoutMs: 5_000 });
    await db.pool.query(`CREATE ROLE ${role} LOGIN`);
    cleanup.push(() => db.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`));
    await db.pool.query(`GRANT USAGE ON SCHEMA "${db.schema}" TO ${role}`);
    await db.pool.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${db.schema}" TO ${role}`,
    );
    await db.pool.query(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
    const url = new URL(DATABASE_URL);
    url.username = role;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 3 });
    cleanup.push(() => pool.end());
    await expect(
      createClient(pool, 'ro', { schema: db.schema, ttl: TTL, heartbeat: HB }),
    ).rejects.toMatchObject({
      name: 'DbleasesError',
      code: 'DATABASE_READ_ONLY',
      message: expect.stringContaining('read-only'),
    });
  });
});
