/**
 * Server-Sent Events: while at least one page listens, the database is polled every `interval` ms (the
 * correctness path; a NOTIFY only makes the next poll come sooner). A `snapshot` event goes out when
 * something a viewer can see changed (owners, epochs, states, queue counts, moves), a small `clock`
 * event after each poll that changed nothing visible (at most every 250 ms) carries the heartbeat ages
 * and expiries, and a `problem` event says the read failed.
 */
import type { ServerResponse } from 'node:http';

import { withTimeout } from '../lease/timeout.js';
import type { Snapshot } from './types.js';

/** Fields that change on every heartbeat: left out when deciding whether to push a snapshot. */
const VOLATILE = new Set(['now', 'heartbeatAt', 'heartbeatAgeMs', 'expiresAt']);

export function structuralKey(snapshot: Snapshot): string {
  return JSON.stringify(snapshot, (key, value: unknown) => (VOLATILE.has(key) ? undefined : value));
}

/** Clock events go out at most this often (so an expiry a page shows never runs stale by more). */
const CLOCK_EVERY_MS = 250;
const PING_EVERY_MS = 15_000;
const PROBLEM_EVERY_MS = 1_000;
const READ_TIMEOUT_MS = 5_000;

export class LiveFeed {
  readonly #read: () => Promise<Snapshot>;
  readonly #interval: number;
  /** Open event streams. The poll loop runs exactly while this is non-empty (and not closed). */
  readonly #subscribers = new Set<ServerResponse>();
  #latest: { snapshot: Snapshot; key: string } | undefined;
  #problem: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ping: NodeJS.Timeout | undefined;
  /** The poll in flight, so a wake-up never starts a second one. */
  #polling: Promise<void> | undefined;
  #lastClock = 0;
  #closed = false;

  readonly #onIdle: () => void;

  /** `onIdle` runs when the last viewer leaves (the dashboard stops LISTENing then). */
  constructor(read: () => Promise<Snapshot>, interval: number, onIdle: () => void = () => {}) {
    this.#read = read;
    this.#interval = interval;
    this.#onIdle = onIdle;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  /** Takes over `res` as an event stream until the viewer goes away or `close()`. */
  subscribe(res: ServerResponse): void {
    if (this.#closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-store, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    this.#subscribers.add(res);
    res.on('close', () => {
      this.#subscribers.delete(res);
      if (this.#subscribers.size === 0) {
        this.#stop();
        this.#onIdle();
      }
    });
    if (this.#latest) {
      send(res, 'snapshot', this.#latest.snapshot);
      if (this.#problem) send(res, 'problem', { message: this.#problem });
    }
    this.#ping ??= setInterval(() => this.#broadcastRaw(': ping\n\n'), PING_EVERY_MS);
    this.#ping.unref?.();
    // A new viewer gets a fresh picture at once; the loop continues from there.
    this.wake();
  }

  /** Polls now (a NOTIFY arrived or a viewer joined); coalesces with a poll in flight. */
  wake(): void {
    if (this.#closed || this.#subscribers.size === 0) return;
    if (this.#polling) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined;
      if (!this.#closed && this.#subscribers.size > 0) {
        this.#timer = setTimeout(() => this.wake(), this.#interval);
        this.#timer.unref?.();
      }
    });
  }

  async #poll(): Promise<void> {
    let snapshot: Snapshot;
    try {
      // A pool without a connection timeout can wait forever on a dead server: bound every read.
      snapshot = await withTimeout(
        this.#read(),
        READ_TIMEOUT_MS,
        () => new Error(`the database did not answer within ${READ_TIMEOUT_MS} ms`),
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const now = Date.now();
      // Repeated while it lasts, so pages know the stream itself is alive.
      if (message !== this.#problem || now - this.#lastClock >= PROBLEM_EVERY_MS) {
        this.#problem = message;
        this.#lastClock = now;
        this.#broadcast('problem', { message });
      }
      return;
    }
    if (this.#problem !== undefined) {
      this.#problem = undefined;
      this.#broadcast('problem', { message: null });
    }
    const key = structuralKey(snapshot);
    const changed = this.#latest?.key !== key;
    this.#latest = { snapshot, key };
    const now = Date.now();
    if (changed) {
      this.#lastClock = now;
      this.#broadcast('snapshot', snapshot);
    } else if (now - this.#lastClock >= CLOCK_EVERY_MS) {
      this.#lastClock = now;
      const ages: Record<string, number> = {};
      const expires: Record<string, string> = {};
      for (const c of snapshot.clients) {
        ages[c.id] = c.heartbeatAgeMs;
        expires[c.id] = c.expiresAt;
      }
      this.#broadcast('clock', { now: snapshot.now, heartbeatAgeMs: ages, expiresAt: expires });
    }
  }

  #broadcast(event: string, data: unknown): void {
    this.#broadcastRaw(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #broadcastRaw(chunk: string): void {
    for (const res of this.#subscribers) res.write(chunk);
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#ping);
    this.#ping = undefined;
    this.#latest = undefined;
  }

  /** Ends every stream and stops polling; waits for a poll in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop();
    for (const res of this.#subscribers) res.end();
    this.#subscribers.clear();
    await this.#polling;
  }
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
