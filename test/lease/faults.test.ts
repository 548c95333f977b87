/**
 * Faults injected for real on lease clients in child processes: SIGKILL, SIGSTOP past the TTL,
 * pg_terminate_backend, a duplicate id. Exclusivity is checked from the children's own sampled
 * `values()`, not from the library's bookkeeping.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Child } from '../helpers/child.js';
import { testSchema } from '../helpers/db.js';
import { balanced, currentValues, overlaps, ownershipIntervals } from '../helpers/ownership.js';
import { waitFor } from '../helpers/wait.js';

const TTL = 1000;
const HB = 250;
const SIZE = 16;

let db: Awaited<ReturnType<typeof testSchema>>;
const children: Child[] = [];

beforeAll(async () => {
  db = await testSchema('lease-faults');
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
});
afterAll(async () => {
  await db.drop();
});

function start(id: string, extra: Record<string, string> = {}): Child {
  const child = new Child('lease/fixtures/lease-child.ts', {
    DBL_SCHEMA: db.schema,
    DBL_ID: id,
    DBL_TTL: String(TTL),
    DBL_HB: String(HB),
    DBL_SIZE: String(SIZE),
    ...extra,
  });
  children.push(child);
  return child;
}

const lease = (name: string) => ({ DBL_LEASE: name });

describe('lease clients in separate processes', () => {
  it('split fairly, and a SIGKILLed owner is taken over within TTL + 1 s without overlap', async () => {
    const procs = ['k1', 'k2', 'k3'].map((id) => start(id, lease('kill')));
    await waitFor(() => balanced(procs, SIZE), { timeout: 30_000, message: 'a balanced split' });
    const victim = procs[0]!;
    const victimValues = currentValues([victim])[0]!;
    expect(victimValues.length).toBeGreaterThanOrEqual(5);

    const killedAt = performance.timeOrigin + performance.now();
    victim.kill('SIGKILL');
    await victim.exited;
    const survivors = procs.slice(1);
    await waitFor(() => balanced(survivors, SIZE), {
      timeout: TTL + 3000,
      message: 'survivors to own everything',
    });
    const takenAt = Math.max(
      ...victimValues.map(
        (p) =>
          survivors
            .flatMap((c) => c.messages)
            .find((m) => m.type === 'values' && m.t > killedAt && (m.values as number[]).includes(p))!.t,
      ),
    );
    expect(takenAt - killedAt).toBeLessThanOrEqual(TTL + 1000);
    expect(overlaps(ownershipIntervals(procs))).toEqual([]);
  });

  it('a process paused past the TTL fences itself, and re-claims after it resumes', async () => {
    const procs = ['s1', 's2'].map((id) => start(id, lease('stop')));
    await waitFor(() => balanced(procs, SIZE), { timeout: 30_000, message: 'a balanced split' });
    const [paused, other] = procs as [Child, Child];
    const pausedValues = currentValues([paused])[0]!;
    paused.kill('SIGSTOP');
    await waitFor(() => currentValues([other])[0]!.length === SIZE, {
      timeout: TTL + 3000,
      message: 'the other to take over',
    });
    // Keep it paused well past the takeover, so that it wakes with a stale view of the world.
    const resumeAfter = performance.timeOrigin + performance.now() + TTL / 2;
    await waitFor(() => (other.last('values')?.t ?? 0) > resumeAfter, { message: 'time to pass' });
    const resumedAt = performance.timeOrigin + performance.now();
    paused.kill('SIGCONT');

    // Its first sample after waking lists nothing, and it reports the loss to its revoke step.
    const firstAfter = await paused.waitFor(
      (m) => m.type === 'values' && m.t >= resumedAt,
      5000,
      'a sample after SIGCONT',
    );
    expect(firstAfter.values).toEqual([]);
    const lost = await paused.waitFor(
      (m) => m.type === 'revoke' && m.reason === 'lost',
      5000,
      'a lost revoke',
    );
    expect(lost.partitions).toEqual(pausedValues);
    // Then it rejoins and the split becomes fair again, with new epochs.
    await waitFor(() => balanced(procs, SIZE), { timeout: 10_000, message: 'a fair split after resuming' });
    expect(overlaps(ownershipIntervals(procs))).toEqual([]);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM "${db.schema}".db_leases_history WHERE lease_name = 'stop' AND reason = 'self-fence'`,
    );
    expect(rows[0].n).toBeGreaterThan(0);
  });

  it("survives pg_terminate_backend of a client's connections: stays exclusive and keeps waking on NOTIFY", async () => {
    const procs = ['t1', 't2'].map((id) => start(id, { ...lease('term'), DBL_TTL: '6000', DBL_HB: '3000' }));
    await waitFor(() => balanced(procs, SIZE), { timeout: 20_000, message: 'a balanced split' });
    const [target, other] = procs as [Child, Child];
    const { rows } = await db.pool.query(
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
      ['dbl-test-t1'],
    );
    expect(rows[0].n).toBeGreaterThan(0);
    // The LISTEN connection's loss is reported; the client re-LISTENs on a fresh connection.
    await target.waitFor(
      (m) => m.type === 'error' && /LISTEN/.test(String(m.message)),
      10_000,
      'the connection loss to be reported',
    );
    await waitFor(
      async () =>
        (
          await db.pool.query(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = 'dbl-test-t1' AND query ILIKE 'LISTEN%'`,
          )
        ).rows.length > 0,
      { timeout: 10_000, message: 'a new LISTEN connection' },
    );
    // A graceful leave of the other process must reach the target through NOTIFY, well before its next
    // 3 s heartbeat could notice by polling.
    const closing = performance.timeOrigin + performance.now();
    other.kill('SIGTERM');
    await other.waitFor((m) => m.type === 'closed', 15_000, 'a graceful close');
    const full = await target.waitFor(
      (m) => m.type === 'values' && (m.values as number[]).length === SIZE,
      10_000,
      'the target to own all',
    );
    expect(full.t - closing).toBeLessThan(3000);
    expect(overlaps(ownershipIntervals(procs))).toEqual([]);
  });

  it('refuses a second live process with the same id, and lets a restart take over once the old one expired', async () => {
    const first = start('dup', lease('dup'));
    await first.waitFor(
      (m) => m.type === 'values' && (m.values as number[]).length === SIZE,
      15_000,
      'the first to own all',
    );
    const second = start('dup', lease('dup'));
    const fatal = await second.waitFor((m) => m.type === 'fatal', 15_000, 'the duplicate to be refused');
    expect(fatal.code).toBe('DUPLICATE_CLIENT_ID');
    expect(fatal.message).toMatch(/held by another live process/);
    expect(await second.exited).toBe(3);
    expect(first.last('values')!.values).toHaveLength(SIZE);

    first.kill('SIGKILL');
    await first.exited;
    let restarted: Child | undefined;
    await waitFor(
      async () => {
        restarted = start('dup', lease('dup'));
        const m = await restarted.waitFor((x) => x.type === 'ready' || x.type === 'fatal', 15_000);
        return m.type === 'ready';
      },
      { timeout: TTL + 10_000, interval: 100, message: 'a restart with the same id to be accepted' },
    );
    await restarted!.waitFor(
      (m) => m.type === 'values' && (m.values as number[]).length === SIZE,
      10_000,
      'the restart to own all',
    );
  });
});
