/**
 * Scenarios for the model: a lease size, the first clients, and a list of commands (joins, graceful
 * leaves, crashes, pauses, statement faults, time passing), as fast-check arbitraries; and the runner
 * that plays one, checks safety after every event, lets faults stop and time run, then checks balance,
 * and finally measures one join and one crash from the quiet state (minimal moves, failover time).
 */
import fc from 'fast-check';

import { Checker } from './checks.js';
import { type ClientRules, type Fault, ModelClient, type StatementKind } from './client.js';
import { Sim } from './sim.js';
import { PROTOCOL_STORE, SimStore, type StoreRules } from './store.js';

export const TTL = 1_000;
export const HEARTBEAT = 250;
const MAX_DRAIN = 300;
const MAX_CLIENTS = 6;
/** Time from a crashed member's expiry to its partitions being held again: a few statements. */
const FAILOVER_SLACK = 100;

export const PROTOCOL_CLIENT: ClientRules = {
  ttl: TTL,
  heartbeat: HEARTBEAT,
  margin: Math.max(100, TTL / 10),
  statementTimeout: 400,
  checkDeadlineOnClaim: true,
  fenceBeforeExtend: true,
  fenceOnRenewalFailure: true,
  deadlineFromSend: true,
  selfFence: true,
  drainBeforeRelease: true,
};

export interface Protocol {
  store: StoreRules;
  client: ClientRules;
}

export const PROTOCOL: Protocol = { store: PROTOCOL_STORE, client: PROTOCOL_CLIENT };

export type Command =
  | { t: 'join'; drainMs: number }
  | { t: 'leave'; who: number }
  | { t: 'crash'; who: number }
  | { t: 'pause'; who: number; ms: number; late: number }
  | { t: 'fault'; who: number; fault: Fault; on: StatementKind | undefined; times: number }
  | { t: 'advance'; ms: number };

export interface Scenario {
  size: number;
  /** drainMs of each client present at the start. */
  initial: number[];
  commands: Command[];
  /** Which running client crashes in the final measurement. */
  victim: number;
}

const drainMs = fc.integer({ min: 0, max: MAX_DRAIN });
const who = fc.nat({ max: 20 });

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({
    kind: fc.constant('delay' as const),
    land: fc.integer({ min: 0, max: 2 * TTL }),
    reply: fc.integer({ min: 0, max: 2 * TTL }),
  }),
  fc.record({ kind: fc.constant('drop' as const) }),
  fc.record({ kind: fc.constant('lostReply' as const) }),
  fc.record({ kind: fc.constant('error' as const) }),
);

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1_500 }) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('join' as const), drainMs }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('leave' as const), who }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), who }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('pause' as const),
      who,
      ms: fc.integer({ min: TTL + 1, max: 3 * TTL }),
      late: fc.integer({ min: 0, max: 2 * TTL }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('fault' as const),
      who,
      fault: faultArb,
      on: fc.option(
        fc.constantFrom<StatementKind>('register', 'renew', 'release', 'delete', 'claim', 'leave'),
        { nil: undefined },
      ),
      times: fc.integer({ min: 1, max: 3 }),
    }),
  },
);

export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  size: fc.integer({ min: 1, max: 16 }),
  initial: fc.array(drainMs, { minLength: 1, maxLength: 3 }),
  commands: fc.array(commandArb, { maxLength: 30 }),
  victim: fc.nat(),
});

export class World {
  readonly sim: Sim;
  readonly store: SimStore;
  readonly clients: ModelClient[] = [];
  readonly checker: Checker;
  #nextId = 0;

  constructor(
    size: number,
    private readonly protocol: Protocol,
  ) {
    this.sim = new Sim(() => this.checker.safety());
    this.store = new SimStore(size, protocol.client.ttl, protocol.store);
    this.checker = new Checker(this.sim, this.store, this.clients);
  }

  /** Clients that can still be told to do something. */
  active(): ModelClient[] {
    return this.clients.filter((c) => c.state === 'running');
  }

  join(drain: number): ModelClient {
    const c = new ModelClient(`c${this.#nextId++}`, this.sim, this.store, this.protocol.client, drain);
    this.clients.push(c);
    return c;
  }

  apply(cmd: Command): void {
    const active = this.active();
    const target = 'who' in cmd ? active[cmd.who % Math.max(1, active.length)] : undefined;
    switch (cmd.t) {
      case 'advance':
        return this.sim.runUntil(this.sim.now + cmd.ms);
      case 'join':
        if (active.length < MAX_CLIENTS) this.join(cmd.drainMs);
        return;
      case 'leave':
        return target?.close();
      case 'crash':
        return target?.crash();
      case 'pause':
        return target?.pause(cmd.ms, cmd.late);
      case 'fault':
        for (let i = 0; i < cmd.times; i++) target?.faults.push({ fault: cmd.fault, on: cmd.on });
        return;
    }
  }

  /** Faults stop: pauses end, delayed statements land, then time runs for a few heartbeats. */
  quiesce(): void {
    for (const c of this.clients) c.faults.length = 0;
    let end = this.sim.now;
    for (const c of this.clients) {
      end = Math.max(end, c.pausedUntil);
      for (const s of c.inFlight) end = Math.max(end, s.landAt, s.replyAt);
    }
    this.sim.runUntil(end + this.settleTime());
  }

  settleTime(): number {
    return 2 * this.protocol.client.ttl + MAX_DRAIN + 8 * this.protocol.client.heartbeat;
  }

  /** Runs 1 ms at a time until `done()` holds; throws after `limit` ms. */
  until(done: () => boolean, limit = 10_000): void {
    const end = this.sim.now + limit;
    while (!done()) {
      if (this.sim.now >= end) throw new Error(`t=${this.sim.now}: condition not reached within ${limit} ms`);
      this.sim.runUntil(this.sim.now + 1);
    }
  }

  holders(): Map<number, string> {
    const holder = new Map<number, string>();
    for (const c of this.active()) for (const p of c.values()) holder.set(p, c.id);
    return holder;
  }
}

/** Plays a scenario; throws on the first broken invariant. */
export function runScenario(sc: Scenario, protocol: Protocol = PROTOCOL): void {
  const world = new World(sc.size, protocol);
  for (const d of sc.initial) world.join(d);
  for (const cmd of sc.commands) world.apply(cmd);
  world.quiesce();
  const before = world.checker.quiescent();
  const epochs = world.store.rows.map((r) => r.epoch);

  // Stays put: two more heartbeats change nothing.
  world.sim.runUntil(world.sim.now + 2 * HEARTBEAT);
  expectSame(before, world.holders(), 'the quiet state moved');
  const unmoved = (p: number) => world.store.rows[p]!.epoch === epochs[p];
  for (const p of before.keys())
    if (!unmoved(p)) throw new Error(`t=${world.sim.now}: partition ${p} was re-claimed at rest`);

  // One join from the quiet state: only the newcomer gains, only its share moves, the rest stay put.
  if (world.active().length >= MAX_CLIENTS) return;
  const newcomer = world.join(0);
  world.sim.runUntil(world.sim.now + world.settleTime());
  const afterJoin = world.checker.quiescent();
  const n = sc.size;
  const c = world.active().length;
  let moved = 0;
  for (const [p, id] of afterJoin) {
    if (before.get(p) === id && world.store.rows[p]!.epoch === epochs[p]) continue;
    moved++;
    if (id !== newcomer.id)
      throw new Error(
        `t=${world.sim.now}: join moved ${p} from ${before.get(p)} to ${id}, not to the newcomer`,
      );
  }
  if (moved < Math.floor(n / c) || moved > Math.ceil(n / c)) {
    throw new Error(`t=${world.sim.now}: join of 1 to ${c - 1} over ${n} partitions moved ${moved}`);
  }

  // One crash from the quiet state: only the victim's partitions move, and within ttl + 1 s.
  const running = world.active();
  if (running.length < 2) return;
  const victim = running[sc.victim % running.length]!;
  const epochs2 = world.store.rows.map((r) => r.epoch);
  let expiresAt = world.store.members.get(victim.id)!;
  const lost = [...afterJoin].filter(([, id]) => id === victim.id).map(([p]) => p);
  victim.crash();
  // Survivors wake at the victim's expiry (plan's wakeAt), not at their next heartbeat. (A renewal
  // the victim sent just before it crashed may still land and move the expiry.)
  world.until(() => {
    expiresAt = world.store.members.get(victim.id) ?? expiresAt;
    return lost.every((p) => world.holders().has(p));
  }, TTL + 1_000);
  if (world.sim.now > expiresAt + FAILOVER_SLACK) {
    throw new Error(
      `t=${world.sim.now}: the partitions of ${victim.id} (expired at ${expiresAt}) were owned again only now`,
    );
  }
  world.sim.runUntil(world.sim.now + world.settleTime());
  const afterCrash = world.checker.quiescent();
  for (const [p, id] of afterCrash) {
    const was = afterJoin.get(p);
    if (was !== victim.id && (was !== id || world.store.rows[p]!.epoch !== epochs2[p])) {
      throw new Error(`t=${world.sim.now}: crash of ${victim.id} moved ${p} from ${was} to ${id}`);
    }
  }
}

function expectSame(a: Map<number, string>, b: Map<number, string>, what: string): void {
  for (const [p, id] of a) if (b.get(p) !== id) throw new Error(`${what}: ${p} ${id} → ${b.get(p)}`);
  if (a.size !== b.size) throw new Error(`${what}: ${a.size} → ${b.size} partitions held`);
}
