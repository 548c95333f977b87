import { Cluster, Redis, type RedisOptions } from 'ioredis';

import { invalidOption } from '../errors.js';

/** An ioredis client or cluster to share, or options to create one (then owned and closed by us). */
export type ConnectionInput = Redis | Cluster | RedisOptions;

/** `maxRetriesPerRequest` of a producer connection we create from options (unless they set it). */
export const PRODUCER_RETRIES = 3;

export interface SharedConnection {
  client: Redis | Cluster;
  /** Whether we created the client (and so close it). */
  owned: boolean;
}

function isClient(value: unknown): value is Redis | Cluster {
  return value instanceof Redis || value instanceof Cluster;
}

/**
 * Resolves the one connection used for all non-blocking work. A Worker's shared connection must
 * have `maxRetriesPerRequest: null` (BullMQ's requirement): we check it up front with a clear error.
 * From options, a producer's client gets `maxRetriesPerRequest: 3` unless the options set one.
 */
export function resolveConnection(
  connection: unknown,
  forWorker: boolean,
  onError?: (error: Error) => void,
): SharedConnection {
  if (isClient(connection)) {
    if (forWorker) {
      const retries =
        connection instanceof Cluster
          ? connection.options.redisOptions?.maxRetriesPerRequest
          : connection.options.maxRetriesPerRequest;
      if (retries !== null) {
        throw invalidOption(
          'connection.options.maxRetriesPerRequest',
          'null for a worker connection (BullMQ needs it)',
          retries,
        );
      }
    }
    return { client: connection, owned: false };
  }
  if (connection === null || typeof connection !== 'object' || Array.isArray(connection)) {
    throw invalidOption('connection', 'an ioredis Redis or Cluster instance, or ioredis options', connection);
  }
  const options = connection as RedisOptions;
  // A worker's connection must retry forever (BullMQ); a producer's fails a command after a few
  // reconnect attempts, so add() rejects instead of waiting for Redis forever.
  const maxRetriesPerRequest = forWorker
    ? null
    : options.maxRetriesPerRequest === undefined
      ? PRODUCER_RETRIES
      : options.maxRetriesPerRequest;
  const client = new Redis({ ...options, maxRetriesPerRequest });
  // Our own client: its connection errors must not reach ioredis' "Unhandled error event" print.
  // Commands that fail reject their caller; `onError` also sees every connection error.
  client.on('error', (error: Error) => onError?.(error));
  return { client, owned: true };
}

/**
 * Closes a connection we created: `QUIT` when connected, else an immediate disconnect (`QUIT` on a
 * client that cannot reach Redis would wait for it forever). A shared one is left to its owner.
 */
export async function releaseConnection(connection: SharedConnection): Promise<void> {
  if (!connection.owned) return;
  const { client } = connection;
  if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
  else client.disconnect();
}
