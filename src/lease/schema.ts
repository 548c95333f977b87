/**
 * The tables, defined with drizzle-orm for drizzle-kit to generate `drizzle/*.sql`.
 *
 * Schema and table prefix are chosen by the user at run time, so the generated SQL uses the
 * placeholder schema `dbleases_schema` and the placeholder prefix `dbleases_prefix_`; the migration
 * runner substitutes validated identifiers for them. Constraint and index names are spelled out (and
 * kept short) so that `<prefix>_<suffix>` stays within Postgres' 63-byte identifier limit.
 *
 * Design: the expiry lives on one row per client (`clients.expires_at`), so a heartbeat writes one row
 * however many partitions the client owns; a partition row only names its owner and epoch. The
 * expiry column is not indexed and the table gets a lower fillfactor (a custom migration: drizzle-orm has no
 * table storage options) so renewals stay HOT updates.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  foreignKey,
  index,
  integer,
  jsonb,
  pgSchema,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

export const PLACEHOLDER_SCHEMA = 'dbleases_schema';
export const PLACEHOLDER_PREFIX = 'dbleases_prefix_';

const schema = pgSchema(PLACEHOLDER_SCHEMA);
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** One row per live client process: its id, the random instance that holds the id, and its expiry. */
export const clients = schema.table(
  `${PLACEHOLDER_PREFIX}clients`,
  {
    clientId: text('client_id').notNull(),
    instance: text('instance').notNull(),
    expiresAt: ts('expires_at').notNull(),
    heartbeatAt: ts('heartbeat_at').notNull(),
    startedAt: ts('started_at')
      .notNull()
      .default(sql`clock_timestamp()`),
    /** 'live' or 'closing' (draining before it leaves). */
    state: text('state').notNull().default('live'),
    /** Free-form facts for operators: pid, hostname, package version. */
    info: jsonb('info')
      .notNull()
      .default(sql`'{}'::jsonb`),
  },
  (t) => [primaryKey({ name: `${PLACEHOLDER_PREFIX}clients_pk`, columns: [t.clientId] })],
);

/** One row per lease name: its fixed size. */
export const leases = schema.table(
  `${PLACEHOLDER_PREFIX}leases`,
  {
    leaseName: text('lease_name').notNull(),
    size: integer('size').notNull(),
    createdAt: ts('created_at')
      .notNull()
      .default(sql`clock_timestamp()`),
  },
  (t) => [primaryKey({ name: `${PLACEHOLDER_PREFIX}leases_pk`, columns: [t.leaseName] })],
);

/** Which clients take part in which lease. Deleted with the client row. */
export const members = schema.table(
  `${PLACEHOLDER_PREFIX}members`,
  {
    leaseName: text('lease_name').notNull(),
    clientId: text('client_id').notNull(),
    joinedAt: ts('joined_at')
      .notNull()
      .default(sql`clock_timestamp()`),
  },
  (t) => [
    primaryKey({ name: `${PLACEHOLDER_PREFIX}members_pk`, columns: [t.leaseName, t.clientId] }),
    foreignKey({
      name: `${PLACEHOLDER_PREFIX}members_client_fk`,
      columns: [t.clientId],
      foreignColumns: [clients.clientId],
    }).onDelete('cascade'),
    foreignKey({
      name: `${PLACEHOLDER_PREFIX}members_lease_fk`,
      columns: [t.leaseName],
      foreignColumns: [leases.leaseName],
    }).onDelete('cascade'),
  ],
);

/** One row per partition: its owner (valid while the owner's client row lives) and its epoch. */
export const partitions = schema.table(
  `${PLACEHOLDER_PREFIX}partitions`,
  {
    leaseName: text('lease_name').notNull(),
    partition: integer('partition').notNull(),
    owner: text('owner'),
    epoch: bigint('epoch', { mode: 'number' }).notNull().default(0),
    ownedSince: ts('owned_since'),
    /** The owner before a release, and why it released: the next claim records the move. */
    lastOwner: text('last_owner'),
    releaseReason: text('release_reason'),
  },
  (t) => [
    primaryKey({ name: `${PLACEHOLDER_PREFIX}partitions_pk`, columns: [t.leaseName, t.partition] }),
    foreignKey({
      name: `${PLACEHOLDER_PREFIX}partitions_lease_fk`,
      columns: [t.leaseName],
      foreignColumns: [leases.leaseName],
    }).onDelete('cascade'),
  ],
);

/** Recent ownership moves, bounded per lease. */
export const history = schema.table(
  `${PLACEHOLDER_PREFIX}history`,
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    leaseName: text('lease_name').notNull(),
    partition: integer('partition').notNull(),
    fromClient: text('from_client'),
    toClient: text('to_client'),
    epoch: bigint('epoch', { mode: 'number' }).notNull(),
    reason: text('reason').notNull(),
    at: ts('at')
      .notNull()
      .default(sql`clock_timestamp()`),
  },
  (t) => [
    primaryKey({ name: `${PLACEHOLDER_PREFIX}history_pk`, columns: [t.id] }),
    index(`${PLACEHOLDER_PREFIX}history_lease_idx`).on(t.leaseName, t.id),
  ],
);
