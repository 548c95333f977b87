/**
 * Every SQL statement of the lease protocol, one small method each, on an already-escaped schema and
 * prefix. Times cross the wire as float8 milliseconds since the epoch and epochs as float8, so pg and
 * PGlite return plain numbers. Expiry is always judged by `clock_timestamp()` in the database.
 */
import { createHash } from 'node:crypto';

import { DbleasesError } from '../errors.js';
import type { PartitionRow } from './assign.js';
import { type DbPort, quoteIdent } from './db.js';
import { withTimeout } from './timeout.js';
import type { MoveReason } from './types.js';

export interface MemberInfo {
  id: string;
  expiresAt: number;
  state: string;
}

export interface LeaseSnapshotRow {
  name: string;
  size: number;
  members: MemberInfo[];
  partitions: PartitionRow[];
}

export interface HeartbeatResult {
  renewed: boolean;
  /** Database time of the snapshot. */
  now: number;
  /** My client row as it was before the statement, if any. */
  me: { instance: string; expiresAt: number } | null;
  leases: LeaseSnapshotRow[];
}

/** The LISTEN/NOTIFY channel of one schema + prefix: short and fixed, below the 63-byte limit. */
export function notifyChannel(schema: string, tablePrefix: string): string {
  return `dbleases_${createHash('sha1').update(`${schema}.${tablePrefix}`).digest('hex').slice(0, 16)}`;
}

/** Fully qualified, quoted table names for a schema and prefix. */
export function tableNames(schema: string, tablePrefix: string) {
  const t = (name: string) => `${quoteIdent(schema)}.${quoteIdent(`${tablePrefix}_${name}`)}`;
  return {
    clients: t('clients'),
    leases: t('leases'),
    members: t('members'),
    partitions: t('partitions'),
    history: t('history'),
  };
}

/** How many history rows to keep per lease. */
export const HISTORY_LIMIT = 1000;

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

export class Store {
  readonly channel: string;
  readonly #db: DbPort;
  /** For `register`, which its callers bound themselves (at start: by migrationTimeout). */
  readonly #unbounded: DbPort;
  readonly #t: ReturnType<typeof tableNames>;

  /**
   * @param timeoutMs bound on every statement (and transaction): a client whose database does not
   *   answer for a whole ttl has fenced itself, so waiting longer only hangs its loop and its close
   */
  constructor(db: DbPort, schema: string, tablePrefix: string, timeoutMs = Infinity) {
    this.#db = Number.isFinite(timeoutMs) ? boundedPort(db, timeoutMs) : db;
    this.#unbounded = db;
    this.#t = tableNames(schema, tablePrefix);
    this.channel = notifyChannel(schema, tablePrefix);
  }

  /**
   * Inserts my client row, or takes over the row of an expired process with the same id.
   * Resolves to null when done, or to the live holder of the id (its expiry in ms from now).
   */
  async register(
    clientId: string,
    instance: string,
    ttl: number,
    info: Record<string, unknown>,
  ): Promise<{ expiresInMs: number } | null> {
    const { clients } = this.#t;
    const res = await this.#unbounded.query<{ instance: string; expires_in: number }>(
      `WITH up AS (
         INSERT INTO ${clients} AS c (client_id, instance, expires_at, heartbeat_at, started_at, state, info)
         VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::float8 / 1000), clock_timestamp(), clock_timestamp(), 'live', $4::jsonb)
         ON CONFLICT (client_id) DO UPDATE SET instance = EXCLUDED.instance, expires_at = EXCLUDED.expires_at,
           heartbeat_at = EXCLUDED.heartbeat_at, started_at = EXCLUDED.started_at, state = 'live', info = EXCLUDED.info
         WHERE c.expires_at <= clock_timestamp() OR c.instance = EXCLUDED.instance
         RETURNING c.instance)
       SELECT (SELECT instance FROM up) AS instance,
              (SELECT ${ms('expires_at')} - ${ms('clock_timestamp()')} FROM ${clients} WHERE client_id = $1) AS expires_in`,
      [clientId, instance, ttl, JSON.stringify(info)],
    );
    const row = res.rows[0];
    if (row?.instance === instance) return null;
    return { expiresInMs: Math.max(0, Number(row?.expires_in ?? 0)) };
  }

  /**
   * The one statement of a steady-state heartbeat: drop expired clients (not me), renew my row only if it
   * is still live, and read the snapshot of my leases.
   */
  async heartbeat(
    clientId: string,
    instance: string,
    ttl: number,
    leaseNames: string[],
  ): Promise<HeartbeatResult> {
    const { clients, leases, members, partitions } = this.#t;
    const res = await this.#db.query<{
      renewed: number;
      now: number;
      me: HeartbeatResult['me'];
      leases: unknown;
    }>(
      `WITH evacuate AS (
         DELETE FROM ${clients} WHERE expires_at <= clock_timestamp() AND client_id <> $1 RETURNING 1
       ), renew AS (
         UPDATE ${clients} SET expires_at = clock_timestamp() + make_interval(secs => $3::float8 / 1000), heartbeat_at = clock_timestamp()
         WHERE client_id = $1 AND instance = $2 AND expires_at > clock_timestamp()
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM renew)::int AS renewed,
              (SELECT count(*) FROM evacuate)::int AS evacuated,
              ${ms('clock_timestamp()')} AS now,
              (SELECT json_build_object('instance', instance, 'expiresAt', ${ms('expires_at')}) FROM ${clients} WHERE client_id = $1) AS me,
              (SELECT coalesce(json_agg(json_build_object(
                 'name', l.lease_name, 'size', l.size,
                 'members', (SELECT coalesce(json_agg(json_build_array(m.client_id, ${ms('c.expires_at')}, c.state)), '[]'::json)
                             FROM ${members} m JOIN ${clients} c ON c.client_id = m.client_id WHERE m.lease_name = l.lease_name),
                 'partitions', (SELECT coalesce(json_agg(json_build_array(p.partition, p.owner, p.epoch::float8) ORDER BY p.partition), '[]'::json)
                                FROM ${partitions} p WHERE p.lease_name = l.lease_name)
               )), '[]'::json) FROM ${leases} l WHERE l.lease_name = ANY($4::text[])) AS leases`,
      [clientId, instance, ttl, leaseNames],
    );
    const row = res.rows[0]!;
    const raw = (typeof row.leases === 'string' ? JSON.parse(row.leases) : row.leases) as {
      name: string;
      size: number;
      members: [string, number, string][];
      partitions: [number, string | null, number][];
    }[];
    const me = typeof row.me === 'string' ? (JSON.parse(row.me) as HeartbeatResult['me']) : row.me;
    return {
      renewed: row.renewed === 1,
      now: Number(row.now),
      me: me ? { instance: me.instance, expiresAt: Number(me.expiresAt) } : null,
      leases: raw.map((l) => ({
        name: l.name,
        size: l.size,
        members: l.members.map(([id, expiresAt, state]) => ({ id, expiresAt: Number(expiresAt), state })),
        partitions: l.partitions.map(([partition, owner, epoch]) => ({
          partition,
          owner,
          epoch: Number(epoch),
        })),
      })),
    };
  }

  /**
   * Records the lease (first caller fixes its size), creates missing partition rows and my membership.
   * A different size is refused while other live clients use the lease; with none, the lease is resized
   * (rows of partitions beyond the new size go, the others keep their epochs so tokens never repeat).
   */
  async joinLease(clientId: string, name: string, size: number): Promise<void> {
    const { clients, leases, members, partitions } = this.#t;
    await this.#db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO ${leases} (lease_name, size) VALUES ($1, $2) ON CONFLICT (lease_name) DO NOTHING`,
        [name, size],
      );
      const cur = await tx.query<{ size: number }>(
        `SELECT size FROM ${leases} WHERE lease_name = $1 FOR UPDATE`,
        [name],
      );
      const existing = cur.rows[0]!.size;
      if (existing !== size) {
        const others = await tx.query<{ client_id: string }>(
          `SELECT m.client_id FROM ${members} m JOIN ${clients} c ON c.client_id = m.client_id
           WHERE m.lease_name = $1 AND m.client_id <> $2 AND c.expires_at > clock_timestamp() ORDER BY 1 LIMIT 5`,
          [name, clientId],
        );
        if (others.rows.length > 0) {
          throw new DbleasesError(
            'LEASE_SIZE_MISMATCH',
            `Lease ${JSON.stringify(name)} has size ${existing} among live clients (${others.rows
              .map((r) => JSON.stringify(r.client_id))
              .join(', ')}), got size ${size}: every client of a lease must use the same size. ` +
              'Stop them all to change it, or use another lease name.',
          );
        }
        await tx.query(`DELETE FROM ${partitions} WHERE lease_name = $1 AND partition >= $2`, [name, size]);
        await tx.query(`UPDATE ${leases} SET size = $2 WHERE lease_name = $1`, [name, size]);
      }
      await tx.query(
        `INSERT INTO ${partitions} (lease_name, partition)
         SELECT $1, g FROM generate_series(0, $2::int - 1) g
         WHERE (SELECT count(*) FROM ${partitions} WHERE lease_name = $1) < $2
         ON CONFLICT (lease_name, partition) DO NOTHING`,
        [name, size],
      );
      await tx.query(
        `INSERT INTO ${members} (lease_name, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [name, clientId],
      );
    });
    await this.notify(name);
  }

  /**
   * Claims partitions by compare-and-set: each succeeds only if its epoch is still the one seen and it
   * is free, mine, or its owner is no longer a member of the lease (its client row is gone, or it left
   * the lease); and only while my own row is live and I am a member. Expired client rows are deleted
   * first, by a conditional delete that cannot race their renewal (both lock the row); their
   * memberships go with them.
   *
   * A member never holds a partition of a lease it has left: `leaveLease` releases every partition
   * still named mine in the same statement, and a claim sent before the leave that lands after it is
   * refused (no membership). So "not a member" is as safe a sign of "gone" as a missing client row.
   */
  async claim(
    clientId: string,
    instance: string,
    name: string,
    items: { partition: number; epoch: number }[],
  ): Promise<{ partition: number; epoch: number }[]> {
    const { clients, members, partitions, history } = this.#t;
    await this.#db.query(`DELETE FROM ${clients} WHERE expires_at <= clock_timestamp() AND client_id <> $1`, [
      clientId,
    ]);
    const res = await this.#db.query<{ partition: number; epoch: number }>(
      `WITH want AS (
         SELECT unnest($3::int[]) AS partition, unnest($4::bigint[]) AS epoch
       ), cur AS (
         SELECT p.partition, p.owner, p.last_owner, p.release_reason
         FROM ${partitions} p JOIN want w ON w.partition = p.partition AND w.epoch = p.epoch
         WHERE p.lease_name = $2
           AND (p.owner IS NULL OR p.owner = $1
                OR NOT EXISTS (SELECT 1 FROM ${members} o WHERE o.lease_name = $2 AND o.client_id = p.owner))
           AND EXISTS (SELECT 1 FROM ${clients} me WHERE me.client_id = $1 AND me.instance = $5 AND me.expires_at > clock_timestamp())
           AND EXISTS (SELECT 1 FROM ${members} mm WHERE mm.lease_name = $2 AND mm.client_id = $1)
         FOR UPDATE OF p
       ), upd AS (
         UPDATE ${partitions} p SET owner = $1, epoch = p.epoch + 1, owned_since = clock_timestamp(), last_owner = NULL, release_reason = NULL
         FROM cur WHERE p.lease_name = $2 AND p.partition = cur.partition
         RETURNING p.partition, p.epoch, cur.owner AS prev_owner, cur.last_owner, cur.release_reason
       ), hist AS (
         INSERT INTO ${history} (lease_name, partition, from_client, to_client, epoch, reason)
         SELECT $2, partition, coalesce(prev_owner, last_owner), $1, epoch,
                CASE WHEN prev_owner IS NULL THEN coalesce(release_reason, 'join')
                     WHEN prev_owner = $1 THEN 'self-fence'
                     ELSE 'crash' END
         FROM upd
       ), prune AS (
         DELETE FROM ${history} WHERE lease_name = $2 AND id <= (
           SELECT id FROM ${history} WHERE lease_name = $2 ORDER BY id DESC OFFSET ${HISTORY_LIMIT} LIMIT 1)
       )
       SELECT partition, epoch::float8 AS epoch FROM upd ORDER BY partition`,
      [clientId, name, items.map((i) => i.partition), items.map((i) => i.epoch), instance],
    );
    return res.rows.map((r) => ({ partition: r.partition, epoch: Number(r.epoch) }));
  }

  /**
   * Releases partitions I own (after their drain) and wakes the other clients. Each release is
   * conditional on the epoch I held as well as on the owner: a late release must never free a partition
   * that I have re-claimed (with a new epoch) since.
   */
  async release(
    clientId: string,
    name: string,
    items: { partition: number; epoch: number }[],
    reason: Extract<MoveReason, 'leave' | 'rebalance'>,
  ): Promise<number[]> {
    const { partitions } = this.#t;
    const res = await this.#db.query<{ partition: number }>(
      `WITH want AS (
         SELECT unnest($3::int[]) AS partition, unnest($6::bigint[]) AS epoch
       ), rel AS (
         UPDATE ${partitions} p SET owner = NULL, last_owner = p.owner, release_reason = $4, owned_since = NULL
         FROM want w
         WHERE p.lease_name = $2 AND p.partition = w.partition AND p.epoch = w.epoch AND p.owner = $1
         RETURNING p.partition
       ), wake AS (SELECT pg_notify($5, $2))
       SELECT partition FROM rel, wake ORDER BY partition`,
      [clientId, name, items.map((i) => i.partition), reason, this.channel, items.map((i) => i.epoch)],
    );
    return res.rows.map((r) => r.partition);
  }

  /** Writes `self-fence` moves for partitions a client dropped when its deadline passed. */
  async recordSelfFence(clientId: string, name: string, epochs: ReadonlyMap<number, number>): Promise<void> {
    if (epochs.size === 0) return;
    await this.#db.query(
      `INSERT INTO ${this.#t.history} (lease_name, partition, from_client, to_client, epoch, reason)
       SELECT $2, unnest($3::int[]), $1, NULL, unnest($4::bigint[]), 'self-fence'`,
      [clientId, name, [...epochs.keys()], [...epochs.values()]],
    );
  }

  /** Marks my row as closing (operators see a draining client). */
  async markClosing(clientId: string, instance: string): Promise<void> {
    await this.#db.query(
      `UPDATE ${this.#t.clients} SET state = 'closing' WHERE client_id = $1 AND instance = $2`,
      [clientId, instance],
    );
  }

  /** Deletes my client row (memberships go with it) and wakes the clients of my leases. */
  async leave(clientId: string, instance: string, leaseNames: string[]): Promise<void> {
    await this.#db.query(
      `WITH gone AS (DELETE FROM ${this.#t.clients} WHERE client_id = $1 AND instance = $2 RETURNING 1)
       SELECT pg_notify($3, n) FROM unnest($4::text[]) n`,
      [clientId, instance, this.channel, leaseNames],
    );
  }

  /**
   * Ends my membership of one lease and wakes its clients. Every partition still named mine there is
   * released in the same statement: its drain has finished (a leave comes after the drains), but its
   * release may have failed, or a claim may have landed while the lease was closing. Resolves to how
   * many such partitions there were.
   */
  async leaveLease(clientId: string, name: string): Promise<number> {
    const { members, partitions } = this.#t;
    const res = await this.#db.query<{ released: number }>(
      `WITH rel AS (
         UPDATE ${partitions} p SET owner = NULL, last_owner = p.owner, release_reason = 'leave', owned_since = NULL
         WHERE p.lease_name = $1 AND p.owner = $2
         RETURNING p.partition
       ), gone AS (DELETE FROM ${members} WHERE lease_name = $1 AND client_id = $2 RETURNING 1)
       SELECT pg_notify($3, $1) AS wake, (SELECT count(*) FROM rel)::int AS released`,
      [name, clientId, this.channel],
    );
    return Number(res.rows[0]?.released ?? 0);
  }

  async notify(name: string): Promise<void> {
    await this.#db.query('SELECT pg_notify($1, $2)', [this.channel, name]);
  }
}

/** A port whose every query and transaction rejects with `DATABASE_UNREACHABLE` after `ms` without an answer. */
function boundedPort(db: DbPort, ms: number): DbPort {
  const unanswered = (what: string) => () =>
    new DbleasesError(
      'DATABASE_UNREACHABLE',
      `The database did not answer ${what} within ${ms} ms (the ttl)`,
    );
  return {
    kind: db.kind,
    query: (text, values) => withTimeout(db.query(text, values), ms, unanswered('a lease statement')),
    transaction: (fn) => withTimeout(db.transaction(fn), ms, unanswered('a lease transaction')),
    listen: (channel, onNotify, onError) => db.listen(channel, onNotify, onError),
  };
}
