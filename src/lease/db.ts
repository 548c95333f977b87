/**
 * The tiny database port the library talks to, and adapters from what users pass in: a `pg.Pool`,
 * a Drizzle database on node-postgres (its `$client` is the pool), or PGlite (directly or under Drizzle).
 */
import { DbleasesError, describe } from '../errors.js';
import { withTimeout } from './timeout.js';

/** How long giving the LISTEN connection back may take before it is destroyed instead. */
const UNLISTEN_TIMEOUT_MS = 2_000;

export interface QueryResult<R> {
  rows: R[];
}

export interface Queryable {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

export interface DbPort extends Queryable {
  readonly kind: 'pg' | 'pglite';
  /** The most connections the pool opens (pg only; undefined when it cannot be read). */
  readonly maxConnections?: number;
  /** Runs `fn` inside one transaction on one pinned connection. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * LISTENs on `channel` (on a dedicated connection for pg); resolves to a function that stops.
   * `onError` is told when the connection is lost; the caller resubscribes.
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onError: (error: Error) => void,
  ): Promise<() => Promise<void>>;
}

/** The subset of `pg.Pool` used here. */
interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  connect(): Promise<PgClientLike>;
}
interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  release(destroy?: boolean | Error): void;
  on(event: 'notification', listener: (msg: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
}
/** The subset of PGlite used here. */
interface PGliteLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  transaction<T>(
    fn: (tx: { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> }) => Promise<T>,
  ): Promise<T>;
  listen(channel: string, cb: (payload: string) => void): Promise<() => Promise<void>>;
  exec(text: string): Promise<unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isPGlite = (v: unknown): v is PGliteLike =>
  isObject(v) &&
  typeof v.listen === 'function' &&
  typeof v.exec === 'function' &&
  typeof v.transaction === 'function';
// A pg.Client has connect() and query() too, but LISTEN and transactions need a pool to take connections from.
const isPgPool = (v: unknown): v is PgPoolLike =>
  isObject(v) &&
  typeof v.connect === 'function' &&
  typeof v.query === 'function' &&
  typeof v.totalCount === 'number';

/** Adapts a pg.Pool, a PGlite instance, or a Drizzle database built on either. */
export function toDbPort(db: unknown): DbPort {
  const inner = isObject(db) && '$client' in db ? db.$client : db;
  if (isPGlite(inner)) return pgliteAdapter(inner);
  if (isPgPool(inner)) return pgPoolAdapter(inner);
  throw new DbleasesError(
    'INVALID_ARGUMENT',
    `Expected \`db\` to be a pg.Pool, a PGlite instance or a Drizzle database built on either, got ${describe(
      isObject(db) ? `object with keys ${Object.keys(db).slice(0, 8).join(', ')}` : db,
    )}`,
  );
}

function pgPoolAdapter(pool: PgPoolLike): DbPort {
  const max = (pool as { options?: { max?: unknown } }).options?.max;
  return {
    kind: 'pg',
    ...(typeof max === 'number' ? { maxConnections: max } : {}),
    query: <R>(text: string, values?: unknown[]) => pool.query(text, values) as Promise<QueryResult<R>>,
    async transaction(fn) {
      const conn = await pool.connect();
      let broken: unknown;
      try {
        await conn.query('BEGIN');
        const result = await fn({
          query: <R>(t: string, v?: unknown[]) => conn.query(t, v) as Promise<QueryResult<R>>,
        });
        await conn.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await conn.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError;
        }
        throw error;
      } finally {
        conn.release(broken instanceof Error ? broken : undefined);
      }
    },
    listen: (channel, onNotify, onError) => sharedListener(pool).subscribe(channel, onNotify, onError),
  };
}

/**
 * One LISTEN connection per pool, shared by every client and dashboard on that pool: a hundred clients
 * in one process must not hold a hundred pool connections just to be woken up.
 */
const listeners = new WeakMap<PgPoolLike, SharedListener>();
function sharedListener(pool: PgPoolLike): SharedListener {
  let listener = listeners.get(pool);
  if (!listener) listeners.set(pool, (listener = new SharedListener(pool)));
  return listener;
}

interface Subscriber {
  channel: string;
  onNotify: (payload: string) => void;
  onError: (error: Error) => void;
}

class SharedListener {
  readonly #pool: PgPoolLike;
  #conn: Promise<PgClientLike> | undefined;
  readonly #subscribers = new Set<Subscriber>();
  /** channel → number of subscribers; LISTEN is issued when it becomes 1, UNLISTEN when it drops to 0. */
  readonly #channels = new Map<string, number>();

  constructor(pool: PgPoolLike) {
    this.#pool = pool;
  }

  async subscribe(
    channel: string,
    onNotify: Subscriber['onNotify'],
    onError: Subscriber['onError'],
  ): Promise<() => Promise<void>> {
    const subscriber: Subscriber = { channel, onNotify, onError };
    // Counted before the connection is there, so a last unsubscribe meanwhile does not give it back.
    this.#subscribers.add(subscriber);
    let conn: PgClientLike;
    try {
      conn = await this.#connect();
    } catch (error) {
      this.#subscribers.delete(subscriber);
      throw error;
    }
    const count = (this.#channels.get(channel) ?? 0) + 1;
    this.#channels.set(channel, count);
    if (count === 1) {
      try {
        await conn.query(`LISTEN ${quoteIdent(channel)}`);
      } catch (error) {
        await this.#unsubscribe(subscriber);
        throw error;
      }
    }
    return () => this.#unsubscribe(subscriber);
  }

  #connect(): Promise<PgClientLike> {
    this.#conn ??= this.#pool.connect().then(
      (conn) => {
        conn.on('notification', (msg) => {
          for (const s of this.#subscribers) if (s.channel === msg.channel) s.onNotify(msg.payload ?? '');
        });
        conn.on('error', (error) => this.#fail(conn, error));
        return conn;
      },
      (error: unknown) => {
        this.#conn = undefined;
        throw error;
      },
    );
    return this.#conn;
  }

  /** The connection died: every subscriber is told (they subscribe again) and the next subscribe reconnects. */
  #fail(conn: PgClientLike, error: Error): void {
    const subscribers = [...this.#subscribers];
    this.#subscribers.clear();
    this.#channels.clear();
    this.#conn = undefined;
    conn.removeAllListeners('notification');
    conn.release(error);
    for (const s of subscribers) s.onError(error);
  }

  async #unsubscribe(subscriber: Subscriber): Promise<void> {
    if (!this.#subscribers.delete(subscriber)) return;
    const pending = this.#conn;
    if (!pending) return;
    const conn = await pending;
    const count = (this.#channels.get(subscriber.channel) ?? 1) - 1;
    if (count > 0) {
      this.#channels.set(subscriber.channel, count);
      return;
    }
    this.#channels.delete(subscriber.channel);
    if (this.#subscribers.size === 0) {
      // Last one out gives the connection back to the pool.
      this.#conn = undefined;
      conn.removeAllListeners('notification');
      try {
        // A connection that does not answer is destroyed rather than kept: pool.end() would wait for it.
        await withTimeout(
          conn.query('UNLISTEN *'),
          UNLISTEN_TIMEOUT_MS,
          () => new Error('UNLISTEN got no answer'),
        );
        conn.release();
      } catch (error) {
        conn.release(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    await conn.query(`UNLISTEN ${quoteIdent(subscriber.channel)}`).catch(() => {});
  }
}

function pgliteAdapter(pg: PGliteLike): DbPort {
  return {
    kind: 'pglite',
    query: <R>(text: string, values?: unknown[]) => pg.query(text, values) as Promise<QueryResult<R>>,
    transaction: (fn) =>
      pg.transaction((tx) =>
        fn({ query: <R>(t: string, v?: unknown[]) => tx.query(t, v) as Promise<QueryResult<R>> }),
      ),
    async listen(channel, onNotify) {
      // PGlite lives in this process: its connection cannot drop, so onError is never called.
      return pg.listen(channel, onNotify);
    },
  };
}

/** Quotes an identifier that was already validated (see `validateIdentifier`). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
