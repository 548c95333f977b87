/**
 * The shapes the dashboard serves (JSON API, SSE and the page), documented in the README (Dashboard, JSON API, metrics and CLI).
 *
 * Terminology
 * - **status** of a partition: `owned` (its owner's client row lives), `expired` (the row names an owner
 *   whose client row has expired or is gone: nobody owns it validly, it is up for grabs), `unowned`.
 * - **state** of a client: `live`, `draining` (its row says `closing`: it is giving partitions back) or
 *   `expired` (its `expires_at` passed by the database clock; the row is not deleted yet).
 * - Times are ISO-8601 strings from the database clock; ages are milliseconds on that same clock.
 */

export type PartitionStatus = 'owned' | 'expired' | 'unowned';
export type ClientState = 'live' | 'draining' | 'expired';

/** Job counts of one partition queue (BullMQ). `waiting` includes prioritized and paused jobs. */
export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface PartitionView {
  partition: number;
  /** The client the row names, or null. Only an `owned` partition has a valid owner. */
  owner: string | null;
  status: PartitionStatus;
  /** Fencing token: increases on every change of owner. */
  epoch: number;
  ownedSince: string | null;
  /** The owner's client expiry (ownership lasts until then unless renewed); null when unowned. */
  expiresAt: string | null;
  /** The BullMQ queue of this partition, when Redis is configured for this lease. */
  queue?: string;
  /** Its job counts, when Redis is configured for this lease. */
  jobs?: QueueCounts;
}

export interface LeaseView {
  name: string;
  size: number;
  createdAt: string;
  /** Client ids that joined the lease. */
  members: string[];
  /** Partitions with a valid owner. */
  owned: number;
  /** Partitions without a valid owner (`unowned` or `expired`). */
  unowned: number;
  partitions: PartitionView[];
}

export interface ClientView {
  id: string;
  state: ClientState;
  startedAt: string;
  heartbeatAt: string;
  expiresAt: string;
  /** Milliseconds since the last renewal, by the database clock. */
  heartbeatAgeMs: number;
  /** Free-form facts the client recorded (pid, hostname, ...). */
  info: Record<string, unknown>;
  /** Partitions this client owns validly, per lease name, sorted. */
  partitions: Record<string, number[]>;
  /** Total of `partitions`. */
  count: number;
}

export type MoveReason = 'join' | 'leave' | 'crash' | 'rebalance' | 'self-fence';

export interface MoveView {
  id: number;
  lease: string;
  partition: number;
  from: string | null;
  to: string | null;
  epoch: number;
  /** `join`, `leave`, `crash`, `rebalance` or `self-fence` (kept as a string: rows may be newer than this code). */
  reason: string;
  at: string;
}

/** Everything the page shows, read in one statement (one consistent database snapshot). */
export interface Snapshot {
  /** The database clock when the snapshot was read. */
  now: string;
  leases: LeaseView[];
  clients: ClientView[];
  /** Newest first. */
  history: MoveView[];
  /** Set when the dashboard reads queue counts from Redis; `error` says why the last read failed. */
  redis: { prefix: string; error: string | null } | null;
}

/**
 * Redis for the dashboard's job counts: an ioredis `Redis` or `Cluster` instance, or ioredis
 * `RedisOptions`. Declared structurally (any object) so that these types never need ioredis installed
 * — a lease-only project type-checks without it; the dashboard checks the value when it runs.
 */
export type RedisConnection = object;
