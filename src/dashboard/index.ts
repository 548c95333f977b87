/** `dbleases/dashboard`: the ownership dashboard, its JSON API and metrics, and worker-side metrics. */
export { type ClientMetrics, clientMetrics } from './client-metrics.js';
export { createDashboard, type Dashboard, type DashboardHandler } from './dashboard.js';
export type { LeaseLag, MoveMark, OpsView, ThroughputPoint } from './ops.js';
export type { DashboardOptions } from './options.js';
export type { FailedJob, PartitionJobs, RunningJob } from './queue-source.js';
export { compactRanges } from './ranges.js';
export { readSnapshot, tableNames } from './snapshot.js';
export type * from './types.js';
