/**
 * Scripted interleavings: each drives the model to one narrow race that random scenarios reach only
 * rarely, then lets faults stop and checks the quiet state. Every invariant check runs throughout, as in
 * the random model. Under the protocol each passes; each one fails under the mutation it names.
 */
import { HEARTBEAT, PROTOCOL, type Protocol, TTL, World } from './scenario.js';

export interface Script {
  name: string;
  /** The rule whose absence the script exposes. */
  guards: string;
  run: (protocol?: Protocol) => void;
}

function finish(world: World): void {
  world.quiesce();
  world.checker.quiescent();
}

export const SCRIPTS: Script[] = [
  {
    name: 'a release that lands after its sender re-claimed the partition does not free it',
    guards: 'store.releaseChecksEpoch',
    run(protocol = PROTOCOL) {
      const world = new World(2, protocol);
      const c0 = world.join(50);
      world.until(() => c0.values().length === 2);
      const c1 = world.join(0);
      world.until(() => c0.draining.has(1));
      // c0's release of 1 times out on its side but lands 3 s later.
      c0.faults.push({ fault: { kind: 'delay', land: 3_000, reply: 0 }, on: 'release' });
      world.until(() => c0.inFlight.size > 0);
      const landsAt = world.sim.now + 3_000;
      c1.crash();
      // c1 expires, 1 is mine again: c0 re-claims it (owner = me, epoch 1 → 2) before the release lands.
      world.until(() => c0.values().includes(1));
      world.sim.runUntil(landsAt);
      // A newcomer's share is partition 1: it may claim it only from c0's release after c0's drain.
      world.join(0);
      world.sim.runUntil(world.sim.now + 2 * HEARTBEAT);
      finish(world);
    },
  },
  {
    name: 'a claim that lands twice (timed out, then retried) does not change the epoch under its holder',
    guards: 'store.claimChecksEpoch',
    run(protocol = PROTOCOL) {
      const world = new World(1, protocol);
      const c0 = world.join(0);
      c0.faults.push({ fault: { kind: 'delay', land: 600, reply: 0 }, on: 'claim' });
      world.until(() => c0.values().includes(0));
      world.sim.runUntil(world.sim.now + 1_000);
      finish(world);
    },
  },
  {
    name: 'a late delete of a member seen dead does not remove it after it registered again',
    guards: 'store.deleteChecksExpiry',
    run(protocol = PROTOCOL) {
      const world = new World(2, protocol);
      const c0 = world.join(0);
      const c1 = world.join(0);
      world.until(() => c0.values().length === 1 && c1.values().length === 1);
      world.sim.runUntil(1_000);
      c0.pause(TTL + 100, 0);
      // Every delete c1 sends while c0 looks dead lands 700 ms late, after c0 came back.
      for (let i = 0; i < 3; i++)
        c1.faults.push({ fault: { kind: 'delay', land: 700, reply: 0 }, on: 'delete' });
      world.sim.runUntil(world.sim.now + 3 * TTL);
      finish(world);
    },
  },
  {
    name: 'a claim confirmed after the deadline does not come back when the client registers again',
    guards:
      'client.checkDeadlineOnClaim (with fenceOnRenewalFailure and fenceBeforeExtend), client.deadlineFromSend',
    run(protocol = PROTOCOL) {
      const world = new World(2, protocol);
      const c0 = world.join(0);
      // Registration and both claims each take 399 ms to answer (just under the statement timeout):
      // the second claim lands at 798 and is confirmed at 1197, after the deadline (900).
      for (let i = 0; i < 3; i++) c0.faults.push({ fault: { kind: 'delay', land: 0, reply: 399 } });
      world.sim.runUntil(800);
      // c1 joins after c0's last claim landed: it takes both once c0's row expires (1000).
      world.join(0);
      world.sim.runUntil(1_197 + 2 * HEARTBEAT);
      finish(world);
    },
  },
];
