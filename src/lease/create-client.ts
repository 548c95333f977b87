import { type ClientOptions, resolveClientOptions, validateClientId } from '../options.js';
import { LeaseClient } from './client.js';
import { toDbPort } from './db.js';
import { migrate } from './migrate.js';

/**
 * Validates the options, migrates the schema (bounded by `migrationTimeout`), registers the client
 * id (rejecting with `DUPLICATE_CLIENT_ID` while another live process holds it) and starts the heartbeat.
 *
 * @param db a `pg.Pool`, a PGlite instance, or a Drizzle database built on either
 * @param clientId unique per process, e.g. the pod name
 */
export async function createClient(
  db: unknown,
  clientId: string,
  options: ClientOptions = {},
): Promise<LeaseClient> {
  const opts = resolveClientOptions(options);
  validateClientId(clientId);
  const port = toDbPort(db);
  await migrate(port, {
    schema: opts.schema,
    tablePrefix: opts.tablePrefix,
    timeoutMs: opts.migrationTimeout,
  });
  const client = new LeaseClient(port, clientId, opts);
  await client.start();
  return client;
}
