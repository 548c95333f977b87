/**
 * A fast-check model of the whole lease protocol: a simulated store with the protocol's conditional
 * writes, a simulated clock (database time = local time, integer ms), and model clients around the
 * real `plan()` (test/lease/model/). Random joins, graceful leaves, crashes, pauses longer than the ttl
 * (statements in flight land late, stale snapshots are acted on), delayed / timed-out / lost / failed
 * statements, and time passing. After every event: one owner per partition and epoch in the store, no
 * partition in two clients' values(), every holder named owner at its epoch, every holder's deadline
 * before its row's expiry, no partition taken while its owner's revoke step runs. Once faults stop:
 * every partition held, ±1, nothing moves at rest; then one join (only the newcomer's share moves) and
 * one crash (only the victim's partitions move, owned again at most 100 ms after its row expired).
 *
 * On failure fast-check prints the seed, path and shrunk scenario: rerun with
 * `fc.assert(..., { seed, path, endOnFailure: true })`. MODEL_RUNS=5000 for a longer search.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { PROTOCOL, type Protocol, runScenario, scenarioArb } from './model/scenario.js';
import { SCRIPTS } from './model/scripts.js';

const numRuns = Number(process.env.MODEL_RUNS ?? 300);

describe('lease protocol model', () => {
  it(
    'keeps one owner per partition through faults, and splits ±1 with minimal moves once they stop',
    { timeout: Math.max(60_000, numRuns * 50) },
    () => {
      fc.assert(
        fc.property(scenarioArb, (sc) => runScenario(sc)),
        { numRuns },
      );
    },
  );

  for (const script of SCRIPTS) it(`scripted: ${script.name}`, () => script.run());

  it('the protocol as first described (release on owner = me alone) lets a late release free a held partition', () => {
    const described: Protocol = { ...PROTOCOL, store: { ...PROTOCOL.store, releaseChecksEpoch: false } };
    expect(() => SCRIPTS[0]!.run(described)).toThrow(/holds 1@2 but the store says null@2/);
  });
});

/**
 * A test that cannot fail is a defect: each broken variant of the protocol must be caught, by the
 * random model (fixed seed) or by the script written for its race. Variants that no check can catch
 * because another rule covers them are listed at the end, with the rule that covers them.
 */
const client = (o: Partial<Protocol['client']>): Protocol => ({
  ...PROTOCOL,
  client: { ...PROTOCOL.client, ...o },
});
const store = (o: Partial<Protocol['store']>): Protocol => ({
  ...PROTOCOL,
  store: { ...PROTOCOL.store, ...o },
});
const script = (name: string) => SCRIPTS.find((s) => s.guards.includes(name))!;

const MUTANTS: { name: string; protocol: Protocol; caughtBy: 'random' | string }[] = [
  {
    name: 'values() ignores the deadline, no self-fence (the original)',
    protocol: client({ selfFence: false }),
    caughtBy: 'random',
  },
  {
    name: 'deadline counted from the reply, not the send',
    protocol: client({ deadlineFromSend: false }),
    caughtBy: 'checkDeadlineOnClaim',
  },
  {
    name: 'deadline later than the row expiry (margin −100 ms)',
    protocol: client({ margin: -100 }),
    caughtBy: 'random',
  },
  {
    name: 'released before the revoke step, still in values()',
    protocol: client({ drainBeforeRelease: false }),
    caughtBy: 'random',
  },
  {
    name: 'claim confirmed after the deadline kept, no fence on renewal (all three layers off)',
    protocol: client({ checkDeadlineOnClaim: false, fenceBeforeExtend: false, fenceOnRenewalFailure: false }),
    caughtBy: 'checkDeadlineOnClaim',
  },
  {
    name: 'claim without the epoch condition',
    protocol: store({ claimChecksEpoch: false }),
    caughtBy: 'random',
  },
  { name: 'claim keeps the epoch', protocol: store({ claimBumpsEpoch: false }), caughtBy: 'random' },
  {
    name: 'delete of a dead member without the expiry condition',
    protocol: store({ deleteChecksExpiry: false }),
    caughtBy: 'deleteChecksExpiry',
  },
  {
    name: 'release without the epoch condition',
    protocol: store({ releaseChecksEpoch: false }),
    caughtBy: 'releaseChecksEpoch',
  },
];

// Not catchable on their own, by design (each is covered by another rule):
// - client.checkDeadlineOnClaim alone: a claim confirmed late is invisible (values() checks the
//   deadline) and dropped by the fence before the next renewal extends the deadline;
// - client.fenceBeforeExtend / fenceOnRenewalFailure alone: a renewal that succeeds proves the row was
//   live throughout; one that fails comes after the fence timer;
// - store.claimChecksOwner: plan() never claims a live member's partition and the epoch condition
//   stops stale claims (it does catch a plan() that claims live members' partitions);
// - store.renewChecksLive: reviving an expired row only extends it, and the client fenced already.
describe('the checks catch broken variants of the protocol', () => {
  for (const m of MUTANTS) {
    it(m.name, () => {
      if (m.caughtBy === 'random') {
        const out = fc.check(
          fc.property(scenarioArb, (sc) => runScenario(sc, m.protocol)),
          { numRuns: 300, seed: 1 },
        );
        expect(out.failed).toBe(true);
      } else {
        expect(() => script(m.caughtBy).run(m.protocol)).toThrow();
      }
    });
  }
});
