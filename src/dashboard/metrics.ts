/**
 * The dashboard's Prometheus metrics, on a private registry (never the global one). Each scrape reads
 * one fresh snapshot (shared by every gauge of that scrape) and the moves recorded since the last one.
 */
import { Counter, Gauge, Registry } from 'prom-client';

import type { StreamStats } from './live.js';
import type { PartitionLag } from './ops.js';
import type { Snapshot } from './types.js';

export interface MetricsSource {
  snapshot(): Promise<Snapshot>;
  /** Moves with an id above `afterId`, counted per lease and reason, and the highest id seen. */
  movesSince(
    afterId: number,
  ): Promise<{ maxId: number; counts: { lease: string; reason: string; n: number }[] }>;
  /** What the open event streams cost (no database read). */
  streams?: () => StreamStats;
  /** Lag per partition, from the shared sampler (only with Redis). */
  lag?: (snapshot: Snapshot) => Promise<Record<string, PartitionLag[]>>;
}

export function createDashboardMetrics(source: MetricsSource, registry = new Registry()): Registry {
  // One read per scrape: prom-client collects every metric at once, so they share the read in flight.
  let inFlight: Promise<Snapshot> | undefined;
  const snapshot = (): Promise<Snapshot> => {
    inFlight ??= source.snapshot().finally(() => {
      setImmediate(() => (inFlight = undefined));
    });
    return inFlight;
  };

  new Gauge({
    name: 'dbleases_partitions_owned',
    help: 'Partitions validly owned, per lease and client',
    labelNames: ['lease', 'client'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const c of s.clients)
        for (const [lease, parts] of Object.entries(c.partitions))
          this.set({ lease, client: c.id }, parts.length);
    },
  });
  new Gauge({
    name: 'dbleases_partitions_unowned',
    help: 'Partitions without a valid owner (never claimed, released, or their owner expired), per lease',
    labelNames: ['lease'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const l of s.leases) this.set({ lease: l.name }, l.unowned);
    },
  });
  new Gauge({
    name: 'dbleases_lease_size',
    help: 'Number of partitions of each lease',
    labelNames: ['lease'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const l of s.leases) this.set({ lease: l.name }, l.size);
    },
  });
  new Gauge({
    name: 'dbleases_clients',
    help: 'Client rows by state (live, draining, expired)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const state of ['live', 'draining', 'expired'])
        this.set({ state }, s.clients.filter((c) => c.state === state).length);
    },
  });
  new Gauge({
    name: 'dbleases_seconds_since_renewal',
    help: 'Seconds since each client last renewed its membership, by the database clock',
    labelNames: ['client'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const c of s.clients) this.set({ client: c.id }, c.heartbeatAgeMs / 1000);
    },
  });
  new Gauge({
    name: 'dbleases_queue_jobs',
    help: 'Jobs in each partition queue by state (only when the dashboard has Redis)',
    labelNames: ['lease', 'partition', 'state'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const l of s.leases) {
        for (const p of l.partitions) {
          if (!p.jobs) continue;
          for (const [state, n] of Object.entries(p.jobs))
            this.set({ lease: l.name, partition: String(p.partition), state }, n);
        }
      }
    },
  });

  // Counts every move the history holds at the first scrape, then only the new ones: a counter that
  // starts where the retained history is, which `rate()` treats like any restart.
  let lastId = 0;
  let movesInFlight: Promise<void> | undefined;
  new Counter({
    name: 'dbleases_moves_total',
    help: 'Ownership moves recorded in the history, per lease and reason (join, leave, crash, rebalance, self-fence)',
    labelNames: ['lease', 'reason'] as const,
    registers: [registry],
    async collect() {
      movesInFlight ??= source
        .movesSince(lastId)
        .then(({ maxId, counts }) => {
          lastId = maxId;
          for (const { lease, reason, n } of counts) this.inc({ lease, reason }, n);
        })
        .finally(() => (movesInFlight = undefined));
      await movesInFlight;
    },
  });
  if (source.streams) streamMetrics(source.streams, registry);
  const lagOf = source.lag;
  if (lagOf) {
    let lagInFlight: Promise<Record<string, PartitionLag[]>> | undefined;
    const lag = () => {
      lagInFlight ??= snapshot()
        .then(lagOf)
        .finally(() => setImmediate(() => (lagInFlight = undefined)));
      return lagInFlight;
    };
    lagMetrics(lag, registry);
  }
  return registry;
}

/** Lag per partition and stuck partitions, from the sampler the pages share. */
function lagMetrics(lag: () => Promise<Record<string, PartitionLag[]>>, registry: Registry): void {
  const perPartition = (name: string, help: string, value: (p: PartitionLag) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['lease', 'partition'] as const,
      registers: [registry],
      async collect() {
        const leases = await lag();
        this.reset();
        for (const [lease, parts] of Object.entries(leases))
          for (const p of parts) this.set({ lease, partition: String(p.partition) }, value(p));
      },
    });
  perPartition(
    'dbleases_partition_lag_seconds',
    'Age of the next job (the oldest waiting) of each partition queue, in seconds; 0 when nothing waits',
    (p) => (p.lagMs ?? 0) / 1000,
  );
  perPartition(
    'dbleases_partition_waiting_jobs',
    'Jobs waiting in each partition queue (waiting, prioritized and paused)',
    (p) => p.waiting,
  );
  new Gauge({
    name: 'dbleases_partitions_stuck',
    help: 'Partitions whose owner is live but whose next job has not moved for longer than stuckAfter, per lease',
    labelNames: ['lease'] as const,
    registers: [registry],
    async collect() {
      const leases = await lag();
      this.reset();
      for (const [lease, parts] of Object.entries(leases))
        this.set({ lease }, parts.filter((p) => p.stuck).length);
    },
  });
}

/** The cost of open pages: streams, refusals past `maxStreams`, slow readers cut off, unsent bytes. */
function streamMetrics(stats: () => StreamStats, registry: Registry): void {
  new Gauge({
    name: 'dbleases_dashboard_streams',
    help: 'Open event streams (pages) of this dashboard',
    registers: [registry],
    collect() {
      this.set(stats().open);
    },
  });
  new Counter({
    name: 'dbleases_dashboard_streams_refused_total',
    help: 'Event streams answered 503 because maxStreams were open',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().refused);
    },
  });
  new Counter({
    name: 'dbleases_dashboard_streams_slow_disconnected_total',
    help: 'Event streams disconnected because their unsent bytes would pass maxStreamBuffer',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().slowDisconnected);
    },
  });
  new Gauge({
    name: 'dbleases_dashboard_stream_buffered_bytes',
    help: 'Unsent bytes of the open event stream that holds the most, now',
    registers: [registry],
    collect() {
      this.set(Math.max(0, ...stats().bufferedBytes));
    },
  });
  new Gauge({
    name: 'dbleases_dashboard_stream_buffered_bytes_peak',
    help: 'The most unsent bytes any event stream held after a write, since the dashboard started',
    registers: [registry],
    collect() {
      this.set(stats().peakBufferedBytes);
    },
  });
}
