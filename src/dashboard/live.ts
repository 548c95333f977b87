/**
 * Server-Sent Events: while at least one page listens, the database is polled every `interval` ms (the
 * correctness path; a NOTIFY only makes the next poll come sooner). A `snapshot` event goes out when
 * something a viewer can see changed (owners, epochs, states, queue counts, moves), a small `clock`
 * event after each poll that changed nothing visible (at most every 250 ms) carries the heartbeat ages
 * and expiries, and a `problem` event says the read failed.
 *
 * Bounded: at most `maxStreams` streams (more get 503), and a stream whose unsent bytes would pass
 * `maxBufferBytes` (a viewer that stopped reading) is disconnected; its EventSource reconnects and
 * starts again from a full snapshot. Each event is serialised once and the same bytes go to every
 * stream.
 */
import type { ServerResponse } from 'node:http';

import { withTimeout } from '../lease/timeout.js';
import { sendJson } from './http.js';
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
/**
 * Unsent bytes a stream may hold and still take an event larger than the bound: the response headers
 * and a few small events are still in flight right after a viewer connects.
 */
const SLACK_BYTES = 16 * 1024;

export interface StreamLimits {
  /** Open streams at most; one more is answered 503. */
  maxStreams: number;
  /** Unsent bytes a stream may hold before it is disconnected as a slow reader. */
  maxBufferBytes: number;
}

/** What the streams cost right now (served in /metrics). */
export interface StreamStats {
  open: number;
  /** Streams answered 503 because `maxStreams` were open. */
  refused: number;
  /** Streams disconnected because their unsent bytes would pass `maxBufferBytes`. */
  slowDisconnected: number;
  /** The most unsent bytes any stream held after a write, since the start. */
  peakBufferedBytes: number;
  /** Unsent bytes of each open stream now. */
  bufferedBytes: number[];
}

export interface FeedHooks {
  /** Runs when the last viewer leaves (the dashboard stops LISTENing then). */
  onIdle?: () => void;
  /** An event a new viewer gets right after its first snapshot (the operators' view). */
  greeting?: () => { event: string; data: unknown } | undefined;
}

const frame = (event: string, data: unknown): Buffer =>
  Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`, 'utf8');

export class LiveFeed {
  readonly #read: () => Promise<Snapshot>;
  readonly #interval: number;
  readonly #limits: StreamLimits;
  /** Open event streams. The poll loop runs exactly while this is non-empty (and not closed). */
  readonly #subscribers = new Set<ServerResponse>();
  /** The newest snapshot read, and its event frame once serialised (dropped when a newer read came). */
  #latest: { key: string; snapshot: Snapshot; frame: Buffer | undefined } | undefined;
  #problem: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ping: NodeJS.Timeout | undefined;
  /** The poll in flight, so a wake-up never starts a second one. */
  #polling: Promise<void> | undefined;
  #lastClock = 0;
  #closed = false;
  #refused = 0;
  #slow = 0;
  #peak = 0;

  readonly #hooks: FeedHooks;

  constructor(read: () => Promise<Snapshot>, interval: number, limits: StreamLimits, hooks: FeedHooks = {}) {
    this.#read = read;
    this.#interval = interval;
    this.#limits = limits;
    this.#hooks = hooks;
  }

  /** The newest snapshot the poll read (undefined while no page is open). */
  get latest(): Snapshot | undefined {
    return this.#latest?.snapshot;
  }

  /** Sends one event to every open stream (serialised once). */
  broadcast(event: string, data: unknown): void {
    if (this.#subscribers.size > 0) this.#broadcastFrame(frame(event, data));
  }

  get size(): number {
    return this.#subscribers.size;
  }

  stats(): StreamStats {
    return {
      open: this.#subscribers.size,
      refused: this.#refused,
      slowDisconnected: this.#slow,
      peakBufferedBytes: this.#peak,
      bufferedBytes: [...this.#subscribers].map((r) => r.writableLength),
    };
  }

  /** Takes over `res` as an event stream until the viewer goes away or `close()`. */
  subscribe(res: ServerResponse): void {
    if (this.#closed) {
      sendJson(res, 503, { error: 'The dashboard is closing' });
      return;
    }
    if (this.#subscribers.size >= this.#limits.maxStreams) {
      this.#refused++;
      sendJson(
        res,
        503,
        {
          error: `Too many open event streams: this dashboard serves at most ${this.#limits.maxStreams} (option \`maxStreams\`); close a page or raise it`,
        },
        { 'Retry-After': '5' },
      );
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
        this.#hooks.onIdle?.();
      }
    });
    if (this.#latest) {
      this.#latest.frame ??= frame('snapshot', this.#latest.snapshot);
      this.#write(res, this.#latest.frame);
      if (this.#problem) this.#write(res, frame('problem', { message: this.#problem }));
      const greeting = this.#hooks.greeting?.();
      if (greeting) this.#write(res, frame(greeting.event, greeting.data));
    }
    this.#ping ??= setInterval(() => this.#broadcastFrame(Buffer.from(': ping\n\n')), PING_EVERY_MS);
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
        this.#broadcastFrame(frame('problem', { message }));
      }
      return;
    }
    if (this.#problem !== undefined) {
      this.#problem = undefined;
      this.#broadcastFrame(frame('problem', { message: null }));
    }
    const key = structuralKey(snapshot);
    const changed = this.#latest?.key !== key;
    const now = Date.now();
    if (changed) {
      const f = frame('snapshot', snapshot);
      this.#latest = { key, snapshot, frame: f };
      this.#lastClock = now;
      this.#broadcastFrame(f);
      return;
    }
    // Same picture, newer clock: a viewer joining later gets this one (serialised when it joins).
    this.#latest = { key, snapshot, frame: undefined };
    if (now - this.#lastClock >= CLOCK_EVERY_MS) {
      this.#lastClock = now;
      const ages: Record<string, number> = {};
      const expires: Record<string, string> = {};
      for (const c of snapshot.clients) {
        ages[c.id] = c.heartbeatAgeMs;
        expires[c.id] = c.expiresAt;
      }
      this.#broadcastFrame(frame('clock', { now: snapshot.now, heartbeatAgeMs: ages, expiresAt: expires }));
    }
  }

  /**
   * Writes one event, unless it would take the stream's unsent bytes past the bound while it already
   * holds more than a little: then the viewer is not reading, and is disconnected (its EventSource
   * reconnects). So a stream holds at most `max(maxBufferBytes, SLACK_BYTES + one event)`.
   */
  #write(res: ServerResponse, chunk: Buffer): void {
    if (res.destroyed) return;
    const buffered = res.writableLength;
    if (buffered > SLACK_BYTES && buffered + chunk.length > this.#limits.maxBufferBytes) {
      this.#slow++;
      this.#subscribers.delete(res);
      res.destroy();
      return;
    }
    res.write(chunk);
    if (res.writableLength > this.#peak) this.#peak = res.writableLength;
  }

  #broadcastFrame(chunk: Buffer): void {
    for (const res of [...this.#subscribers]) this.#write(res, chunk);
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
