import { partitionQueueName } from '../bullmq/names.js';
import { DbleasesError, invalidArgument, invalidOption } from '../errors.js';
import { type DbPort, toDbPort } from '../lease/db.js';
import { MAX_PREFIX_LENGTH, validateIdentifier } from '../options.js';
import type { RedisConnection } from './types.js';

export interface DashboardOptions {
  /** A `pg.Pool`, a PGlite instance, or a Drizzle database built on either (the same kinds as `createClient`). */
  db: unknown;
  /** @defaultValue 'public' */
  schema?: string;
  /** @defaultValue 'db_leases' */
  tablePrefix?: string;
  /**
   * Redis, for the job counts of partition queues: an ioredis instance (left open on `close()`) or
   * ioredis options (a connection is opened and closed by the dashboard). Without it, no counts.
   */
  connection?: RedisConnection;
  /**
   * Lease names that have BullMQ partition queues (one queue per partition). Only used with `connection`.
   * @defaultValue the leases whose partition count `dbleases/bullmq` recorded in Redis
   */
  queues?: string[];
  /** BullMQ key prefix of the partition queues. @defaultValue 'bull' */
  prefix?: string;
  /**
   * The BullMQ queue name of a partition; must match the producer's and workers' naming.
   * @defaultValue the `dbleases/bullmq` naming: `<lease>-<partition>` (`{<lease>-<partition>}` with `cluster`)
   */
  queueName?: (lease: string, partition: number) => string;
  /** Whether the partition queues use `dbleases/bullmq`'s cluster naming (a hash tag per queue). @defaultValue false */
  cluster?: boolean;
  /**
   * When set, every request needs `Authorization: Bearer <token>` or the login cookie. Required when
   * `listen()` binds a non-loopback address.
   * @defaultValue undefined (no token; only loopback `Host` headers are served)
   */
  token?: string;
  /**
   * Links shown in the page header, e.g. to bull-board: `[{ text: 'Queues', url: '/queues' }]`.
   * URLs must be http(s) or paths. @defaultValue []
   */
  links?: { text: string; url: string }[];
  /** How often the database is polled while a page is open, in ms. @defaultValue 300 */
  pollInterval?: number;
  /** How many recent moves the page and SSE snapshots carry. @defaultValue 50 */
  historyLimit?: number;
  /** Open event streams (pages) at most; one more is answered 503 with `Retry-After`. @defaultValue 100 */
  maxStreams?: number;
  /**
   * Bytes an event stream may hold unsent (a page that stopped reading) before it is disconnected; its
   * browser reconnects and starts from a full snapshot. At least 64 KiB. @defaultValue 1 MiB
   */
  maxStreamBuffer?: number;
  /**
   * A partition is flagged stuck when its owner is live, jobs wait, and the next job has stayed the
   * next one for longer than this many ms (needs `connection`). @defaultValue 60000
   */
  stuckAfter?: number;
}

export const DEFAULTS = {
  schema: 'public',
  tablePrefix: 'db_leases',
  prefix: 'bull',
  pollInterval: 300,
  historyLimit: 50,
  maxStreams: 100,
  maxStreamBuffer: 1024 * 1024,
  stuckAfter: 60_000,
} as const;

export interface ResolvedDashboardOptions {
  port: DbPort;
  schema: string;
  tablePrefix: string;
  connection: RedisConnection | undefined;
  queues: string[] | undefined;
  prefix: string;
  queueName: (lease: string, partition: number) => string;
  token: string | undefined;
  links: { text: string; url: string }[];
  pollInterval: number;
  historyLimit: number;
  maxStreams: number;
  maxStreamBuffer: number;
  stuckAfter: number;
}

const KNOWN = new Set([
  'db',
  'schema',
  'tablePrefix',
  'connection',
  'queues',
  'prefix',
  'queueName',
  'cluster',
  'links',
  'token',
  'pollInterval',
  'historyLimit',
  'maxStreams',
  'maxStreamBuffer',
  'stuckAfter',
]);

function integerIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** Validates every option once, up front, and fills in the defaults. */
export function resolveDashboardOptions(options: DashboardOptions): ResolvedDashboardOptions {
  if (typeof options !== 'object' || options === null)
    throw invalidArgument('options', 'an object with a `db`', options);
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw invalidOption(
        key,
        `one of the known options (${[...KNOWN].join(', ')})`,
        (options as unknown as Record<string, unknown>)[key],
      );
    }
  }
  if (options.db === undefined)
    throw invalidOption('db', 'a pg.Pool, a PGlite instance or a Drizzle database', undefined);
  const port = toDbPort(options.db);
  const { connection, queues, queueName, token } = options;
  if (connection !== undefined && (typeof connection !== 'object' || connection === null)) {
    throw invalidOption('connection', 'an ioredis instance or ioredis options', connection);
  }
  if (
    queues !== undefined &&
    (!Array.isArray(queues) || queues.some((q) => typeof q !== 'string' || q.length === 0))
  ) {
    throw invalidOption('queues', 'an array of lease names', queues);
  }
  if (queueName !== undefined && typeof queueName !== 'function')
    throw invalidOption('queueName', 'a function (lease, partition) => string', queueName);
  if (token !== undefined && (typeof token !== 'string' || token.length < 8)) {
    throw invalidOption('token', 'a string of at least 8 characters', token);
  }
  const links = options.links ?? [];
  const isLink = (l: unknown) =>
    typeof l === 'object' &&
    l !== null &&
    typeof (l as { text?: unknown }).text === 'string' &&
    typeof (l as { url?: unknown }).url === 'string' &&
    /^(https?:\/\/|\/|\.\.?\/)/i.test((l as { url: string }).url);
  if (!Array.isArray(links) || !links.every(isLink)) {
    throw invalidOption('links', 'an array of { text, url } with http(s) URLs or paths', links);
  }
  const cluster = options.cluster ?? false;
  if (typeof cluster !== 'boolean') throw invalidOption('cluster', 'a boolean', cluster);
  const prefix = options.prefix ?? DEFAULTS.prefix;
  if (typeof prefix !== 'string' || prefix.length === 0)
    throw invalidOption('prefix', 'a non-empty string', prefix);
  return {
    port,
    schema: validateIdentifier('schema', options.schema ?? DEFAULTS.schema, 63),
    tablePrefix: validateIdentifier(
      'tablePrefix',
      options.tablePrefix ?? DEFAULTS.tablePrefix,
      MAX_PREFIX_LENGTH,
    ),
    connection,
    queues,
    prefix,
    queueName: queueName ?? ((lease, partition) => partitionQueueName(lease, partition, cluster)),
    token,
    links: links.map((l) => ({ text: l.text, url: l.url })),
    pollInterval: integerIn('pollInterval', options.pollInterval ?? DEFAULTS.pollInterval, 50, 60_000),
    historyLimit: integerIn('historyLimit', options.historyLimit ?? DEFAULTS.historyLimit, 0, 1000),
    maxStreams: integerIn('maxStreams', options.maxStreams ?? DEFAULTS.maxStreams, 1, 10_000),
    maxStreamBuffer: integerIn(
      'maxStreamBuffer',
      options.maxStreamBuffer ?? DEFAULTS.maxStreamBuffer,
      64 * 1024,
      256 * 1024 * 1024,
    ),
    stuckAfter: integerIn('stuckAfter', options.stuckAfter ?? DEFAULTS.stuckAfter, 1000, 86_400_000),
  };
}

/** Thrown by `listen()` for a non-loopback host without a token. */
export function tokenRequired(host: string): DbleasesError {
  return new DbleasesError(
    'INVALID_OPTION',
    `Expected \`token\` to be set when binding the non-loopback host ${JSON.stringify(host)}: the dashboard would be readable by anyone on the network`,
  );
}
