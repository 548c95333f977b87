/**
 * Reads the whole ownership picture in one statement: one round trip, one consistent database
 * snapshot, judged by one reading of the database clock.
 */
import type { Queryable } from '../lease/db.js';
import { tableNames } from '../lease/store.js';
import type { ClientState, ClientView, LeaseView, MoveView, PartitionView, Snapshot } from './types.js';

/** Quoted, schema-qualified table names (the lease core's own, so both always agree). */
export type Tables = ReturnType<typeof tableNames>;
export { tableNames };

const ms = (col: string) => `(extract(epoch FROM ${col}) * 1000)::float8`;

function snapshotSql(t: Tables): string {
  return `WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS t)
SELECT ${ms('(SELECT t FROM clock)')} AS now,
  coalesce((SELECT json_agg(json_build_array(lease_name, size, ${ms('created_at')}) ORDER BY lease_name) FROM ${t.leases}), '[]'::json) AS leases,
  coalesce((SELECT json_agg(json_build_array(lease_name, partition, owner, epoch, ${ms('owned_since')}) ORDER BY lease_name, partition) FROM ${t.partitions}), '[]'::json) AS partitions,
  coalesce((SELECT json_agg(json_build_array(client_id, state, ${ms('started_at')}, ${ms('heartbeat_at')}, ${ms('expires_at')}, info) ORDER BY client_id) FROM ${t.clients}), '[]'::json) AS clients,
  coalesce((SELECT json_agg(json_build_array(lease_name, client_id) ORDER BY lease_name, client_id) FROM ${t.members}), '[]'::json) AS members,
  coalesce((SELECT json_agg(json_build_array(id, lease_name, partition, from_client, to_client, epoch, reason, ${ms('at')}) ORDER BY id DESC)
     FROM (SELECT * FROM ${t.history} ORDER BY id DESC LIMIT $1) h), '[]'::json) AS history`;
}

function historySql(t: Tables): string {
  return `SELECT ${ms('clock_timestamp()')} AS now,
  coalesce((SELECT json_agg(json_build_array(id, lease_name, partition, from_client, to_client, epoch, reason, ${ms('at')}) ORDER BY id DESC)
     FROM (SELECT * FROM ${t.history} WHERE ($1::text IS NULL OR lease_name = $1) ORDER BY id DESC LIMIT $2) h), '[]'::json) AS history`;
}

type LeaseRow = [string, number, number];
type PartitionRow = [string, number, string | null, number, number | null];
type ClientRow = [string, string, number, number, number, Record<string, unknown> | null];
type MemberRow = [string, string];
type MoveRow = [number, string, number, string | null, string | null, number, string, number];

interface SnapshotRow {
  now: number;
  leases: LeaseRow[] | string;
  partitions: PartitionRow[] | string;
  clients: ClientRow[] | string;
  members: MemberRow[] | string;
  history: MoveRow[] | string;
}

/** node-postgres parses json; other drivers may hand back text. */
const parsed = <T>(value: T[] | string): T[] =>
  typeof value === 'string' ? (JSON.parse(value) as T[]) : value;
const iso = (msValue: number | null): string | null =>
  msValue === null ? null : new Date(Math.round(msValue)).toISOString();
const isoOf = (msValue: number): string => new Date(Math.round(msValue)).toISOString();

function toMove(row: MoveRow): MoveView {
  const [id, lease, partition, from, to, epoch, reason, at] = row;
  return { id: Number(id), lease, partition, from, to, epoch: Number(epoch), reason, at: isoOf(at) };
}

/** Reads leases, partitions, clients and the `historyLimit` newest moves. */
export async function readSnapshot(db: Queryable, tables: Tables, historyLimit: number): Promise<Snapshot> {
  const result = await db.query<SnapshotRow>(snapshotSql(tables), [historyLimit]);
  const row = result.rows[0];
  if (!row) throw new Error('The snapshot query returned no row');
  const now = Number(row.now);

  const clientRows = parsed(row.clients);
  const clients = new Map<string, ClientView>();
  for (const [id, state, startedAt, heartbeatAt, expiresAt, info] of clientRows) {
    const clientState: ClientState = expiresAt <= now ? 'expired' : state === 'closing' ? 'draining' : 'live';
    clients.set(id, {
      id,
      state: clientState,
      startedAt: isoOf(startedAt),
      heartbeatAt: isoOf(heartbeatAt),
      expiresAt: isoOf(expiresAt),
      heartbeatAgeMs: Math.max(0, Math.round(now - heartbeatAt)),
      info: info ?? {},
      partitions: {},
      count: 0,
    });
  }

  const leases = new Map<string, LeaseView>();
  for (const [name, size, createdAt] of parsed(row.leases)) {
    const partitions: PartitionView[] = [];
    for (let p = 0; p < size; p++) {
      partitions.push({
        partition: p,
        owner: null,
        status: 'unowned',
        epoch: 0,
        ownedSince: null,
        expiresAt: null,
      });
    }
    leases.set(name, {
      name,
      size,
      createdAt: isoOf(createdAt),
      members: [],
      owned: 0,
      unowned: size,
      partitions,
    });
  }
  for (const [lease, clientId] of parsed(row.members)) leases.get(lease)?.members.push(clientId);

  for (const [leaseName, partition, owner, epoch, ownedSince] of parsed(row.partitions)) {
    const lease = leases.get(leaseName);
    const view = lease?.partitions[partition];
    if (!lease || !view) continue; // a row outside the lease's size: not shown
    const client = owner === null ? undefined : clients.get(owner);
    const valid = client !== undefined && client.state !== 'expired';
    view.owner = owner;
    view.epoch = Number(epoch);
    view.ownedSince = owner === null ? null : iso(ownedSince);
    view.status = owner === null ? 'unowned' : valid ? 'owned' : 'expired';
    view.expiresAt = client ? client.expiresAt : null;
    if (valid && client) {
      lease.owned++;
      lease.unowned--;
      (client.partitions[leaseName] ??= []).push(partition);
      client.count++;
    }
  }

  return {
    now: isoOf(now),
    leases: [...leases.values()],
    clients: [...clients.values()],
    history: parsed(row.history).map(toMove),
    redis: null,
  };
}

/** The newest moves, optionally of one lease, newest first. */
export async function readHistory(
  db: Queryable,
  tables: Tables,
  lease: string | null,
  limit: number,
): Promise<{ now: string; history: MoveView[] }> {
  const result = await db.query<{ now: number; history: MoveRow[] | string }>(historySql(tables), [
    lease,
    limit,
  ]);
  const row = result.rows[0];
  if (!row) throw new Error('The history query returned no row');
  return { now: isoOf(Number(row.now)), history: parsed(row.history).map(toMove) };
}

/** Moves recorded after `afterId`, counted per lease and reason (for the moves counter). */
export async function readMovesSince(
  db: Queryable,
  tables: Tables,
  afterId: number,
): Promise<{ maxId: number; counts: { lease: string; reason: string; n: number }[] }> {
  const result = await db.query<{
    lease: string;
    reason: string;
    n: string | number;
    max_id: string | number;
  }>(
    `SELECT lease_name AS lease, reason, count(*) AS n, max(id) AS max_id FROM ${tables.history} WHERE id > $1 GROUP BY lease_name, reason`,
    [afterId],
  );
  let maxId = afterId;
  const counts = result.rows.map((r) => {
    maxId = Math.max(maxId, Number(r.max_id));
    return { lease: r.lease, reason: r.reason, n: Number(r.n) };
  });
  return { maxId, counts };
}
