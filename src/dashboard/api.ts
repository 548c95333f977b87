/**
 * The JSON API: `GET /api/leases`, `/api/leases/:name` and `/api/history`. Every query parameter and
 * path segment goes through the one validator (`query.ts`) before anything is read.
 */
import type { ServerResponse } from 'node:http';

import { sendJson } from './http.js';
import { parseQuery, pathSegment } from './query.js';
import type { MoveView, Snapshot } from './types.js';

export const HISTORY_MAX = 1000;

export interface ApiSource {
  /** The picture with `historyLimit` moves. */
  snapshot(historyLimit: number): Promise<Snapshot>;
  history(lease: string | null, limit: number): Promise<{ now: string; history: MoveView[] }>;
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
    const name = pathSegment('lease name', { type: 'lease' }, path.slice('/api/leases/'.length));
    parseQuery(search, {});
    const s = await source.snapshot(0);
    const lease = s.leases.find((l) => l.name === name);
    if (!lease) return sendJson(res, 404, { error: `No lease named ${JSON.stringify(name)}` });
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
