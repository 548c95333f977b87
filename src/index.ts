export { createClient } from './lease/create-client.js';
export { LeaseClient } from './lease/client.js';
export { Lease } from './lease/lease.js';
export { migrate, type MigrateOptions } from './lease/migrate.js';
export { toDbPort, type DbPort, type Queryable } from './lease/db.js';
export { notifyChannel, tableNames, HISTORY_LIMIT } from './lease/store.js';
export {
  computeTarget,
  plan,
  type Snapshot,
  type Plan,
  type MemberRow,
  type PartitionRow,
} from './lease/assign.js';
export { DbleasesError, type DbleasesErrorCode } from './errors.js';
export { DEFAULTS, resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';
export type * from './lease/types.js';
