/** Helpers for the dashboard tests: waits with deadlines, an SSE reader, real lease clients. */
import http from 'node:http';

import pg from 'pg';

import { createClient } from '../../src/index.js';
import type { LeaseClient } from '../../src/lease/client.js';
import type { LeaseHandle } from '../../src/lease/types.js';
import { DATABASE_URL } from '../helpers/env.js';
import { waitFor as sharedWaitFor } from '../helpers/wait.js';

export const SHORT = { ttl: 1000, heartbeat: 250 } as const;

export function newPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
  pool.on('error', () => {});
  return pool;
}

export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  // The shared helper treats only truthy values as done; here 0 or '' are answers too.
  const found = await sharedWaitFor(
    async () => {
      const value = await probe();
      return value === undefined || value === false ? undefined : { value };
    },
    { timeout: timeoutMs, interval: 25, message: what },
  );
  return found.value;
}

export interface Started {
  client: LeaseClient;
  lease: LeaseHandle;
}

export async function startClient(
  pool: pg.Pool,
  id: string,
  schema: string,
  lease: string,
  size: number,
): Promise<Started> {
  const client = await createClient(pool, id, { schema, ...SHORT });
  client.on('error', () => {});
  return { client, lease: client.lease(lease, size) };
}

/** Waits until the clients' `values()` split the lease fairly (max − min ≤ 1) and cover it. */
export async function waitBalanced(clients: Started[], size: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    'a fair split',
    () => {
      const counts = clients.map((c) => c.lease.values().length);
      const total = counts.reduce((a, b) => a + b, 0);
      return total === size && Math.max(...counts) - Math.min(...counts) <= 1;
    },
    timeoutMs,
  );
}

export interface SseEvent {
  event: string;
  data: string;
  at: number;
}

export interface SseStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The next event (after the ones already taken) that satisfies `match`. */
  next(match?: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

/** Opens an event stream with plain http (so the test sees status, headers and raw events). */
export function openEvents(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      let waiters: (() => void)[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ event, data: data.join('\n'), at: performance.now() });
        }
        const w = waiters;
        waiters = [];
        w.forEach((f) => f());
      });
      res.on('error', () => {});
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        async next(match = () => true, timeoutMs = 10_000) {
          const deadline = performance.now() + timeoutMs;
          while (true) {
            const i = events.findIndex(match);
            if (i >= 0) {
              const [e] = events.splice(0, i + 1).slice(-1);
              return e as SseEvent;
            }
            const left = deadline - performance.now();
            if (left <= 0)
              throw new Error(`No matching event within ${timeoutMs} ms (saw ${events.length} others)`);
            await new Promise<void>((r) => {
              const t = setTimeout(r, left);
              waiters.push(() => {
                clearTimeout(t);
                r();
              });
            });
          }
        },
        close() {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
  });
}

/** A request with full control of headers (fetch forbids setting Host). */
export function request(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * A fixed picture written straight into migrated tables (no running client evicts or renews these rows):
 * lease `static` of 6 partitions — `alpha` (live) owns 0-2, `closing-one` (draining) owns 3, `ghost`
 * (expired 5 s ago) owns 4, partition 5 unowned — and three moves.
 */
export async function writeFixture(pool: pg.Pool, schema: string): Promise<void> {
  const { migrate } = await import('../../src/lease/migrate.js');
  const { toDbPort } = await import('../../src/lease/db.js');
  await migrate(toDbPort(pool), { schema, tablePrefix: 'db_leases', timeoutMs: 10_000 });
  const t = (name: string) => `"${schema}"."db_leases_${name}"`;
  await pool.query(`INSERT INTO ${t('leases')} (lease_name, size) VALUES ('static', 6)`);
  await pool.query(
    `INSERT INTO ${t('clients')} (client_id, instance, expires_at, heartbeat_at, state, info) VALUES
       ('alpha', 'i1', clock_timestamp() + interval '1 hour', clock_timestamp() - interval '200 milliseconds', 'live', '{"pid": 11, "hostname": "host-a"}'),
       ('closing-one', 'i2', clock_timestamp() + interval '1 hour', clock_timestamp(), 'closing', '{}'),
       ('ghost', 'i3', clock_timestamp() - interval '5 seconds', clock_timestamp() - interval '6 seconds', 'live', '{}')`,
  );
  await pool.query(
    `INSERT INTO ${t('members')} (lease_name, client_id) VALUES ('static', 'alpha'), ('static', 'closing-one'), ('static', 'ghost')`,
  );
  await pool.query(
    `INSERT INTO ${t('partitions')} (lease_name, partition, owner, epoch, owned_since)
     SELECT 'static', p, CASE WHEN p <= 2 THEN 'alpha' WHEN p = 3 THEN 'closing-one' WHEN p = 4 THEN 'ghost' END,
            CASE WHEN p = 5 THEN 2 ELSE p + 1 END, CASE WHEN p < 5 THEN clock_timestamp() END
     FROM generate_series(0, 5) p`,
  );
  await pool.query(
    `INSERT INTO ${t('history')} (lease_name, partition, from_client, to_client, epoch, reason) VALUES
       ('static', 0, NULL, 'alpha', 1, 'join'), ('static', 4, 'alpha', 'ghost', 5, 'rebalance'), ('static', 5, 'ghost', NULL, 2, 'self-fence')`,
  );
}
