/**
 * The JSON API: `GET /api/leases`, `/api/leases/:name` and `/api/history`. Every query parameter and
 * path segment goes through the one validator (`query.ts`) before anything is read.
 */
import type { ServerResponse } from 'node:http';

import { sendJson } from './http.js';
import { BadRequest, checkValue, parseQuery, pathSegment } from './query.js';
import type { LeaseView, MoveView, Snapshot } from './types.js';

export const HISTORY_MAX = 1000;

export interface ApiSource {
  /** The picture with `historyLimit` moves. */
  snapshot(historyLimit: number): Promise<Snapshot>;
  history(lease: string | null, limit: number): Promise<{ now: string; history: MoveView[] }>;
  /** The running jobs and last failures of one partition; undefined when it has no queue to read. */
  partitionJobs(lease: LeaseView, partition: number): Promise<unknown>;
}

export function isApiPath(path: string): boolean {
  return path === '/api/leases' || path === '/api/history' || path.startsWith('/api/leases/');
}

/** Serves one API path (`isApiPath(path)` is true); a bad parameter throws `BadRequest`. */
export async function serveApi(
  path: string,
  search: URLSearchParams,
  res: ServerResponse,
  source: ApiSource,
): Promise<void> {
  if (path === '/api/leases') {
    parseQuery(search, {});
    const s = await source.snapshot(0);
    sendJson(res, 200, { now: s.now, leases: s.leases, clients: s.clients, redis: s.redis });
  } else if (path.startsWith('/api/leases/')) {
    // `<name>` or `<name>/partitions/<p>` (a `/` inside a name is percent-encoded).
    const [encoded = '', sub, rawPartition, ...rest] = path.slice('/api/leases/'.length).split('/');
    if (sub !== undefined && (sub !== 'partitions' || rawPartition === undefined || rest.length > 0))
      throw new BadRequest(
        `Unknown path ${JSON.stringify(path)}: use /api/leases/<name>/partitions/<partition>`,
      );
    const name = pathSegment('lease name', { type: 'lease' }, encoded);
    parseQuery(search, {});
    const s = await source.snapshot(0);
    const lease = s.leases.find((l) => l.name === name);
    if (!lease) return sendJson(res, 404, { error: `No lease named ${JSON.stringify(name)}` });
    if (rawPartition !== undefined) {
      const partition = checkValue(
        `the partition in the path (lease ${JSON.stringify(name)} has ${lease.size})`,
        { type: 'integer', min: 0, max: lease.size - 1 },
        rawPartition,
      );
      const jobs = await source.partitionJobs(lease, partition);
      if (jobs === undefined)
        return sendJson(res, 404, {
          error: `Lease ${JSON.stringify(name)} has no partition queues to read (the dashboard needs \`connection\`, and the lease's queues)`,
        });
      return sendJson(res, 200, jobs);
    }
    const ids = new Set([
      ...lease.members,
      ...lease.partitions.map((p) => p.owner).filter((x): x is string => x !== null),
    ]);
    sendJson(res, 200, {
      now: s.now,
      lease,
      clients: s.clients.filter((c) => ids.has(c.id)),
      redis: s.redis,
    });
  } else if (path === '/api/history') {
    const q = parseQuery(search, {
      lease: { type: 'lease' },
      limit: { type: 'integer', min: 1, max: HISTORY_MAX },
    });
    sendJson(res, 200, await source.history(q.lease ?? null, q.limit ?? 100));
  }
}
