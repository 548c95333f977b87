/**
 * Prometheus metrics for a worker process, from its own lease client: heartbeat latency, time since the
 * last successful renewal (on the local monotonic clock: what self-fencing judges by), owned partitions.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { ClientHandle, LeaseHandle } from '../lease/types.js';

export interface ClientMetrics {
  readonly registry: Registry;
  /** Also report this lease's owned partitions (leases the client lists itself are found on their own). */
  track(lease: LeaseHandle): void;
  /** Stops listening to the client and removes the metrics from the registry. */
  stop(): void;
}

/** A client that can list its leases (the core's client does; older ones may not). */
interface ListsLeases {
  leases(): Iterable<LeaseHandle>;
}
const listsLeases = (c: unknown): c is ListsLeases =>
  typeof (c as { leases?: unknown }).leases === 'function';

const NAMES = [
  'dbleases_client_heartbeat_latency_seconds',
  'dbleases_client_heartbeats_total',
  'dbleases_client_seconds_since_renewal',
  'dbleases_client_partitions_owned',
] as const;

/**
 * Registers the client's metrics on `registry` (a new private one by default) and keeps them current.
 * Serve them with `await registry.metrics()` (content type `registry.contentType`).
 */
export function clientMetrics(client: ClientHandle, registry: Registry = new Registry()): ClientMetrics {
  const labels = { client: client.id };
  const tracked = new Set<LeaseHandle>();
  // The start counts as a renewal: createClient resolves only after the client row was written.
  let lastRenewal = performance.now();

  const latency = new Histogram({
    name: NAMES[0],
    help: 'Duration of heartbeat statements (renewals), in seconds',
    labelNames: ['client', 'ok'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const beats = new Counter({
    name: NAMES[1],
    help: 'Heartbeat statements by outcome',
    labelNames: ['client', 'ok'] as const,
    registers: [registry],
  });
  new Gauge({
    name: NAMES[2],
    help: 'Seconds since the last successful renewal, on the local monotonic clock',
    labelNames: ['client'] as const,
    registers: [registry],
    collect() {
      this.set(labels, (performance.now() - lastRenewal) / 1000);
    },
  });
  new Gauge({
    name: NAMES[3],
    help: 'Partitions this client owns right now (its values()), per lease',
    labelNames: ['client', 'lease'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const leases = new Set(tracked);
      if (listsLeases(client)) for (const lease of client.leases()) leases.add(lease);
      for (const lease of leases) this.set({ ...labels, lease: lease.name }, lease.values().length);
    },
  });

  const onHeartbeat = ({ ok, latencyMs }: { ok: boolean; latencyMs: number }) => {
    if (ok) lastRenewal = performance.now();
    const l = { ...labels, ok: String(ok) };
    latency.observe(l, latencyMs / 1000);
    beats.inc(l);
  };
  client.on('heartbeat', onHeartbeat);

  return {
    registry,
    track(lease) {
      tracked.add(lease);
    },
    stop() {
      client.off('heartbeat', onHeartbeat);
      for (const name of NAMES) registry.removeSingleMetric(name);
    },
  };
}
