export { DbleasesError, type DbleasesErrorCode } from './errors.js';
export {
  computeTarget,
  type MemberRow,
  type PartitionRow,
  type Plan,
  plan,
  type Snapshot,
} from './lease/assign.js';
export { LeaseClient } from './lease/client.js';
export { createClient } from './lease/create-client.js';
export { type DbPort, type Queryable, toDbPort } from './lease/db.js';
export { Lease } from './lease/lease.js';
export { migrate, type MigrateOptions } from './lease/migrate.js';
export { HISTORY_LIMIT, notifyChannel, tableNames } from './lease/store.js';
export type * from './lease/types.js';
export { type ClientOptions, DEFAULTS, resolveClientOptions, type ResolvedClientOptions } from './options.js';
