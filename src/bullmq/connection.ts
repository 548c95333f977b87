import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { invalidOption } from '../errors.js';

/** An ioredis client or cluster to share, or options to create one (then owned and closed by us). */
export type ConnectionInput = Redis | Cluster | RedisOptions;

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
 */
export function resolveConnection(connection: unknown, forWorker: boolean): SharedConnection {
  if (isClient(connection)) {
    if (forWorker) {
      const retries =
        connection instanceof Cluster
          ? connection.options.redisOptions?.maxRetriesPerRequest
          : connection.options.maxRetriesPerRequest;
      if (retries !== null) {
        throw invalidOption('connection.options.maxRetriesPerRequest', 'null for a worker connection (BullMQ needs it)', retries);
      }
    }
    return { client: connection, owned: false };
  }
  if (connection === null || typeof connection !== 'object' || Array.isArray(connection)) {
    throw invalidOption('connection', 'an ioredis Redis or Cluster instance, or ioredis options', connection);
  }
  return { client: new Redis({ ...(connection as RedisOptions), maxRetriesPerRequest: null }), owned: true };
}
