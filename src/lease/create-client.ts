import { DbleasesError } from '../errors.js';
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
  // LISTEN holds one pool connection for as long as the client lives; with no second one, the
  // heartbeat and every join would wait for a connection forever.
  if (opts.notify && port.maxConnections !== undefined && port.maxConnections < 2) {
    throw new DbleasesError(
      'INVALID_OPTION',
      `Expected the pg.Pool's \`max\` to be at least 2 while \`notify\` is true (LISTEN keeps one connection for the client's life, the heartbeat needs another), got \`${port.maxConnections}\`: raise max, or pass notify: false to poll instead`,
    );
  }
  try {
    await migrate(port, {
      schema: opts.schema,
      tablePrefix: opts.tablePrefix,
      timeoutMs: opts.migrationTimeout,
    });
    const client = new LeaseClient(port, clientId, opts);
    await client.start();
    return client;
  } catch (error) {
    throw explainStartError(error);
  }
}

/** Postgres's "read-only transaction" (SQLSTATE 25006), raw or inside a migration error. */
const READ_ONLY = '25006';

function explainStartError(error: unknown): unknown {
  const code = (e: unknown) =>
    typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  const cause = error instanceof DbleasesError ? error.cause : error;
  if (code(error) === READ_ONLY || code(cause) === READ_ONLY) {
    return new DbleasesError(
      'DATABASE_READ_ONLY',
      `The database refused a write (${String((cause as Error)?.message ?? cause)}; SQLSTATE ${READ_ONLY}): dbleases keeps its leases in rows it writes on every heartbeat, ` +
        'so it needs the primary and a role whose transactions are not read-only (not a replica, not default_transaction_read_only = on)',
      { cause },
    );
  }
  if (error instanceof DbleasesError || !(error instanceof Error)) return error;
  // Anything else the server said while registering: keep the contract of one error family.
  return new DbleasesError('DATABASE_ERROR', `Starting the lease client failed: ${error.message}`, {
    cause: error,
  });
}
