/**
 * A simulated clock and event queue. Database time = local time = `now` (integer ms); events at the
 * same instant run in the order they were scheduled. `afterEach` runs after every event, so the
 * invariants are checked after every single step of every client and every statement that lands.
 */
interface Event {
  at: number;
  seq: number;
  fn: () => void;
}

export class Sim {
  now = 0;
  #seq = 0;
  /** Sorted by (at, seq); small enough that a sorted insert beats a heap in clarity. */
  #queue: Event[] = [];

  constructor(private readonly afterEach: () => void) {}

  at(time: number, fn: () => void): void {
    if (!Number.isInteger(time) || time < this.now)
      throw new Error(`cannot schedule at ${time} (now ${this.now})`);
    const event = { at: time, seq: this.#seq++, fn };
    let i = this.#queue.length;
    while (i > 0 && this.#queue[i - 1]!.at > time) i--;
    this.#queue.splice(i, 0, event);
  }

  /** Runs every event up to and including `time`, then sets the clock to `time`. */
  runUntil(time: number): void {
    while (this.#queue.length > 0 && this.#queue[0]!.at <= time) {
      const event = this.#queue.shift()!;
      this.now = event.at;
      event.fn();
      this.afterEach();
    }
    this.now = Math.max(this.now, time);
  }

  /** The time of the last scheduled event, or now. */
  lastEventAt(): number {
    return this.#queue.length === 0 ? this.now : this.#queue[this.#queue.length - 1]!.at;
  }
}
