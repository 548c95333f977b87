/**
 * Terminology
 * - **lease**: a named set of `size` partitions, numbered 0..size-1, shared by the clients that join it.
 * - **client**: one process's handle on the database, with a unique id; it heartbeats one membership row.
 * - **owner**: the client a partition row names. Ownership is valid while the owner's client row lives
 *   (its `expires_at` is in the future by the database clock).
 * - **epoch**: the fencing token of a partition; it increases on every change of owner.
 * - **deadline**: the local monotonic instant (`performance.now()`) after which a client no longer trusts
 *   its ownership: start of its last successful renewal + ttl − safety margin.
 * - **drain**: the awaited revoke step that runs after a partition left `values()` and before the
 *   database row is released.
 */

/** A logger: console-like or pino-like. */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** Why partitions leave a client. */
export type RevokeReason =
  /** Another client needs them to keep the split fair; the client is live and drains first. */
  | 'rebalance'
  /** `client.close()` gives them back; the client drains first. */
  | 'close'
  /** The client could not renew before its deadline; it already stopped owning them (self-fenced). */
  | 'lost';

export interface RevokeContext {
  /** The lease name. */
  lease: string;
  /** Partitions leaving this client, sorted. They are no longer in `values()`. */
  partitions: number[];
  /** Their epochs at the moment they left. */
  epochs: ReadonlyMap<number, number>;
  reason: RevokeReason;
  /**
   * Aborted when the drain should hurry: after `drainTimeout` ms, or at once for `lost` (ownership is
   * already gone). The release waits for the handler either way.
   */
  signal: AbortSignal;
}

/** An awaited revoke step; the partitions are released in the database only after it settles. */
export type RevokeHandler = (ctx: RevokeContext) => void | Promise<void>;

export interface LeaseChange {
  lease: string;
  /** Sorted partitions owned after the change. */
  values: number[];
  added: number[];
  removed: number[];
  /** Set when partitions were removed: why. */
  reason?: RevokeReason;
}

export interface LeaseEvents {
  change: (change: LeaseChange) => void;
  error: (error: Error) => void;
}

export type MoveReason = 'join' | 'leave' | 'crash' | 'rebalance' | 'self-fence';

/** Events of a client; background failures go to `error`, never into the void. */
export interface ClientEvents {
  error: (error: Error) => void;
  /** A heartbeat statement finished. */
  heartbeat: (info: { ok: boolean; latencyMs: number }) => void;
  /** The deadline passed without a renewal: every lease dropped its partitions (self-fence). */
  lost: (info: { leases: string[] }) => void;
}

/** The public shape of a lease (implemented by `Lease` in lease.ts). */
export interface LeaseHandle {
  readonly name: string;
  readonly size: number;
  /** Sorted partitions owned right now ([] until granted, and [] once the deadline passed). */
  values(): number[];
  /** Whether `partition` is owned right now. */
  has(partition: number): boolean;
  /** The fencing token of `partition` if owned right now, else undefined. */
  epoch(partition: number): number | undefined;
  /** Adds an awaited revoke step; returns a function that removes it. */
  onRevoke(handler: RevokeHandler): () => void;
  /** Resolves once the lease has joined the database (size checked); rejects with the join error. */
  ready(): Promise<void>;
  /**
   * Leaves this lease alone (the client stays): drains and releases every partition, ends the
   * membership. The client can open the lease again afterwards. Safe to call twice.
   */
  close(): Promise<void>;
  on<E extends keyof LeaseEvents>(event: E, listener: LeaseEvents[E]): this;
  off<E extends keyof LeaseEvents>(event: E, listener: LeaseEvents[E]): this;
  once<E extends keyof LeaseEvents>(event: E, listener: LeaseEvents[E]): this;
}

/** The public shape of a client (implemented by `LeaseClient` in client.ts). */
export interface ClientHandle {
  readonly id: string;
  /** The resolved timing options (the BullMQ adapter ties its job locks to the ttl). */
  readonly options: Readonly<{ ttl: number; heartbeat: number }>;
  /** Synchronous and idempotent for the same name and size; a different size for a known name throws. */
  lease(name: string, size: number): LeaseHandle;
  /** Drains and releases every partition, leaves, stops the heartbeat. Safe to call twice. */
  close(): Promise<void>;
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
}
