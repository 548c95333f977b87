/**
 * `createDashboard()`: a Node request listener serving the page, the JSON API, the event stream and
 * Prometheus metrics, plus `listen()` / `close()` helpers. Read-only: nothing here writes to the database
 * or to Redis.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Registry } from 'prom-client';

import { notifyChannel } from '../lease/store.js';
import { withTimeout } from '../lease/timeout.js';
import { isApiPath, serveApi } from './api.js';
import { COOKIE_NAME, hasToken, hostOf, isLoopbackHost, safeEqual } from './auth.js';
import {
  methodNotAllowed,
  newNonce,
  readBody,
  sendHtml,
  sendJson,
  sendText,
  setCommonHeaders,
} from './http.js';
import { LiveFeed } from './live.js';
import { createDashboardMetrics } from './metrics.js';
import { BUCKET_MS, OpsMonitor } from './ops.js';
import { type DashboardOptions, resolveDashboardOptions, tokenRequired } from './options.js';
import { dashboardPage, loginPage } from './page.js';
import { BadRequest } from './query.js';
import { createQueueReader, type QueueSource as QueueReader, type QueueTarget } from './queues.js';
import { readHistory, readMovesSince, readSnapshot, tableNames } from './snapshot.js';
import type { LeaseView, Snapshot } from './types.js';

/** A Node request listener; in Express or Connect, unknown paths go to `next`. */
export type DashboardHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

export interface Dashboard {
  /** Mount it: `http.createServer(handler)`, `app.use('/leases', handler)` in Express, ... */
  readonly handler: DashboardHandler;
  /** The private registry behind `GET /metrics`. */
  readonly registry: Registry;
  /** Reads the current picture (what `GET /api/leases` and the page show). */
  snapshot(): Promise<Snapshot>;
  /**
   * Serves the dashboard on its own HTTP server. A host other than loopback needs a `token`.
   * @param port - @defaultValue 3000 (0 picks a free port)
   * @param host - @defaultValue '127.0.0.1'
   */
  listen(port?: number, host?: string): Promise<{ url: string; port: number; host: string }>;
  /** Ends event streams, stops polling and LISTEN, closes its own server and Redis connection. Safe to call twice. */
  close(): Promise<void>;
}

/** Redis reads give up after this long (an ioredis with `maxRetriesPerRequest: null` waits forever). */
const REDIS_TIMEOUT_MS = 2_000;
const redisTimeout = () => new Error(`Redis did not answer within ${REDIS_TIMEOUT_MS} ms`);
const COOKIE_MAX_AGE_S = 7 * 24 * 3600;

export function createDashboard(options: DashboardOptions): Dashboard {
  const o = resolveDashboardOptions(options);
  const tables = tableNames(o.schema, o.tablePrefix);
  let reader: Promise<QueueReader> | undefined;
  let closing: Promise<void> | undefined;
  let server: Server | undefined;
  let unlisten: Promise<(() => Promise<void>) | undefined> | undefined;

  const queueReader = (): Promise<QueueReader> | undefined => {
    if (!o.connection) return undefined;
    reader ??= createQueueReader(o.connection, o.prefix);
    return reader;
  };

  /**
   * The picture with queue counts. `shared`: the pages' poll, which reuses the counts of the sampler's
   * last sample (at most 1.5 s old) instead of reading them again every `pollInterval`.
   */
  async function snapshot(historyLimit = o.historyLimit, shared = false): Promise<Snapshot> {
    const snap = await readSnapshot(o.port, tables, historyLimit).catch((error: unknown) => {
      throw explain(error, o.schema, o.tablePrefix);
    });
    const pending = queueReader();
    if (!pending) return snap;
    snap.redis = { prefix: o.prefix, error: null };
    try {
      const queues = await pending;
      const names = snap.leases.map((l) => l.name);
      const withQueues = o.queues
        ? new Set(o.queues)
        : await withTimeout(queues.recorded(names), REDIS_TIMEOUT_MS, redisTimeout);
      const targets: QueueTarget[] = [];
      const views: LeaseView['partitions'] = [];
      for (const lease of snap.leases) {
        if (!withQueues.has(lease.name)) continue;
        for (const p of lease.partitions) {
          p.queue = o.queueName(lease.name, p.partition);
          targets.push({ lease: lease.name, partition: p.partition, queue: p.queue });
          views.push(p);
        }
      }
      const recent = shared
        ? ops.recentCounts(
            targets.map((t) => t.queue),
            1500,
          )
        : undefined;
      const counts = recent ?? (await withTimeout(queues.counts(targets), REDIS_TIMEOUT_MS, redisTimeout));
      views.forEach((p, i) => (p.jobs = counts[i]));
    } catch (error) {
      snap.redis.error = error instanceof Error ? error.message : String(error);
    }
    return snap;
  }

  const ops = new OpsMonitor(queueReader, o.stuckAfter);
  let opsTimer: NodeJS.Timeout | undefined;
  const feed = new LiveFeed(
    () => snapshot(o.historyLimit, true),
    o.pollInterval,
    { maxStreams: o.maxStreams, maxBufferBytes: o.maxStreamBuffer },
    {
      onIdle: () => {
        clearInterval(opsTimer);
        opsTimer = undefined;
        void stopListening();
      },
      greeting: () => (o.connection ? { event: 'ops', data: ops.view(true) } : undefined),
    },
  );
  /** One sampler for every open page: lag, throughput and stuck partitions, once a second. */
  function startOps(): void {
    if (opsTimer || !o.connection || closing) return;
    opsTimer = setInterval(() => {
      const latest = feed.latest;
      if (latest) void ops.observe(latest).then(() => feed.broadcast('ops', ops.view(false)));
    }, BUCKET_MS);
    opsTimer.unref?.();
  }
  /** The detail panel's read: running jobs, last failures and backoff of one partition queue. */
  async function partitionJobs(lease: LeaseView, partition: number): Promise<unknown> {
    const part = lease.partitions[partition];
    const pending = queueReader();
    if (!part?.queue || !pending) return undefined;
    const target = { lease: lease.name, partition, queue: part.queue };
    const jobs = await withTimeout(
      pending.then((q) => q.partition(target)),
      REDIS_TIMEOUT_MS,
      redisTimeout,
    );
    const lag = ops.leases[lease.name]?.find((p) => p.partition === partition) ?? null;
    return {
      now: Date.now(),
      lease: lease.name,
      partition,
      owner: part.owner,
      status: part.status,
      lag,
      ...jobs,
    };
  }

  const registry = createDashboardMetrics({
    snapshot: () => snapshot(0),
    movesSince: (afterId) => readMovesSince(o.port, tables, afterId),
    streams: () => feed.stats(),
    lag: o.connection
      ? async (s) => {
          await ops.observe(s);
          return ops.leases;
        }
      : undefined,
  });

  /** Gives the LISTEN connection back to the pool once no page is open. */
  async function stopListening(): Promise<void> {
    const pending = unlisten;
    unlisten = undefined;
    const stop = await pending;
    await stop?.().catch(() => undefined);
  }

  /**
   * LISTEN for the core's wake-ups while pages are open (one pooled connection, given back when the
   * last page closes): a hint that makes the next poll come at once.
   */
  function startListening(): void {
    if (unlisten || closing) return;
    const mine: Promise<(() => Promise<void>) | undefined> = o.port
      .listen(
        notifyChannel(o.schema, o.tablePrefix),
        () => feed.wake(),
        () => {
          // The connection dropped: polling carries on; the next viewer listens again.
          if (unlisten === mine) unlisten = undefined;
        },
      )
      .catch(() => undefined); // no LISTEN (a transaction pooler): polling alone keeps the page right
    unlisten = mine;
  }

  const handler: DashboardHandler = (req, res, next) => {
    route(req, res, next).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy(error instanceof Error ? error : undefined);
        return;
      }
      if (error instanceof BadRequest) return sendJson(res, 400, { error: error.message });
      sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  };

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    next?: (error?: unknown) => void,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    setCommonHeaders(res);

    // Paths that are not the dashboard's go to the next handler (mounted at the root of an app).
    const known =
      path === '/' || path === '/login' || path === '/events' || path === '/metrics' || isApiPath(path);
    if (!known) {
      if (next) return next();
      sendJson(res, 404, { error: `Not found: ${path}` });
      return;
    }

    if (!o.token) {
      // Without a token only loopback names are served: a DNS-rebinding page cannot read the dashboard.
      const host = hostOf(req.headers.host);
      if (host === undefined || !isLoopbackHost(host)) {
        sendText(
          res,
          403,
          'Forbidden: this dashboard has no token, so it answers only requests to a loopback host (localhost, 127.0.0.1, ::1). Start it with a token to serve other hosts.\n',
        );
        return;
      }
    }

    // Mounted under a path (Express): make relative links work by serving the page at `<mount>/`.
    const original = (req as { originalUrl?: string }).originalUrl;
    const originalPath = original ? new URL(original, 'http://x').pathname : path;
    const base = originalPath.endsWith(path) ? originalPath.slice(0, originalPath.length - path.length) : '';
    if (path === '/' && original && !originalPath.endsWith('/')) {
      res.writeHead(302, { Location: `${originalPath}/${url.search}` }).end();
      return;
    }

    if (path === '/login') {
      if (method === 'POST') return login(req, res, base);
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD, POST');
      const nonce = newNonce();
      sendHtml(res, 200, loginPage({ nonce, failed: false }), nonce);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');

    if (o.token && !hasToken(req, o.token)) {
      if (path === '/') {
        const nonce = newNonce();
        sendHtml(res, 401, loginPage({ nonce, failed: false }), nonce);
      } else {
        res.setHeader('WWW-Authenticate', 'Bearer realm="dbleases"');
        sendJson(res, 401, {
          error: 'This dashboard needs a token: send `Authorization: Bearer <token>` or sign in on the page',
        });
      }
      return;
    }

    if (path === '/') {
      const nonce = newNonce();
      sendHtml(
        res,
        200,
        dashboardPage({ nonce, schema: o.schema, tablePrefix: o.tablePrefix, links: o.links }),
        nonce,
      );
    } else if (path === '/events') {
      if (closing) return sendJson(res, 503, { error: 'The dashboard is closing' });
      if (method === 'HEAD') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' }).end();
        return;
      }
      startListening();
      feed.subscribe(res);
      startOps();
    } else if (path === '/metrics') {
      const text = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(text);
    } else if (isApiPath(path)) {
      await serveApi(path, url.searchParams, res, {
        snapshot,
        history: (lease, limit) => readHistory(o.port, tables, lease, limit),
        partitionJobs,
      });
    }
  }

  async function login(req: IncomingMessage, res: ServerResponse, base: string): Promise<void> {
    const nonce = newNonce();
    if (!o.token) {
      // Nothing to sign in to: the page is open (to loopback hosts).
      res.writeHead(303, { Location: './' }).end();
      return;
    }
    const body = await readBody(req, 4096);
    const given = body === undefined ? undefined : new URLSearchParams(body).get('token');
    if (given === undefined || given === null || !safeEqual(given, o.token)) {
      sendHtml(res, 401, loginPage({ nonce, failed: true }), nonce);
      return;
    }
    const secure =
      (req.socket as { encrypted?: boolean }).encrypted || req.headers['x-forwarded-proto'] === 'https';
    const cookie = [
      `${COOKIE_NAME}=${encodeURIComponent(o.token)}`,
      `Path=${base || ''}/`,
      'HttpOnly',
      'SameSite=Strict',
      `Max-Age=${COOKIE_MAX_AGE_S}`,
      ...(secure ? ['Secure'] : []),
    ].join('; ');
    res.writeHead(303, { 'Set-Cookie': cookie, Location: './' }).end();
  }

  return {
    handler,
    registry,
    snapshot: () => snapshot(),
    async listen(port = 3000, host = '127.0.0.1') {
      if (!o.token && !isLoopbackHost(host)) throw tokenRequired(host);
      if (server) throw new Error('The dashboard is already listening; close() it first');
      const s = createServer((req, res) => handler(req, res));
      server = s;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const addr = s.address() as AddressInfo;
      const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return { url: `http://${shown}:${addr.port}/`, port: addr.port, host: addr.address };
    },
    close() {
      closing ??= (async () => {
        const s = server;
        const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
        clearInterval(opsTimer);
        await feed.close();
        s?.closeAllConnections();
        await closed;
        await stopListening();
        await (await reader?.catch(() => undefined))?.close();
      })();
      return closing;
    },
  };
}

/** Words a missing-table error for operators; other errors pass through. */
function explain(error: unknown, schema: string, tablePrefix: string): unknown {
  if ((error as { code?: string }).code !== '42P01') return error;
  return new Error(
    `No dbleases tables in schema ${schema} with prefix ${tablePrefix} (${(error as Error).message}): start a lease client (it migrates) or check \`schema\` / \`tablePrefix\``,
    { cause: error },
  );
}
