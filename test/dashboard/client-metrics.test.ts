/** Worker-side metrics from a real lease client's own events. */
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';

import { clientMetrics } from '../../src/dashboard/index.js';
import { uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, startClient, waitFor } from './helpers.js';

const pool = newPool();
const schema = uniqueName('dashboard-client-metrics');

afterAll(async () => {
  await dropSchema(pool, schema);
  await pool.end();
});

const sample = (text: string, re: RegExp): number | undefined => {
  const m = text.match(re);
  return m?.[1] === undefined ? undefined : Number(m[1]);
};

describe('clientMetrics', () => {
  it('observes heartbeat latency, time since renewal and owned partitions on a private registry', async () => {
    const { client, lease } = await startClient(pool, 'metered', schema, 'jobs', 4);
    const registry = new Registry();
    const metrics = clientMetrics(client, registry);
    metrics.track(lease);
    try {
      await waitFor('all partitions', () => lease.values().length === 4);
      // Several heartbeats (every 250 ms) are observed in the histogram.
      const text = await waitFor('3 observed heartbeats', async () => {
        const t = await registry.metrics();
        return (
          (sample(t, /dbleases_client_heartbeat_latency_seconds_count\{client="metered",ok="true"\} (\d+)/) ??
            0) >= 3 && t
        );
      });
      expect(text).toMatch(
        /dbleases_client_heartbeat_latency_seconds_bucket\{le="0\.1",client="metered",ok="true"\} \d+/,
      );
      expect(
        sample(text, /dbleases_client_heartbeats_total\{client="metered",ok="true"\} (\d+)/),
      ).toBeGreaterThanOrEqual(3);
      expect(
        sample(text, /dbleases_client_seconds_since_renewal\{client="metered"\} ([\d.e-]+)/),
      ).toBeLessThan(1);
      expect(text).toContain('dbleases_client_partitions_owned{client="metered",lease="jobs"} 4');
      // The default registry stays untouched.
      expect(clientMetrics(client).registry).not.toBe(registry);
    } finally {
      metrics.stop();
      await client.close();
    }
    // stop() removed the metrics and the listener.
    expect(await registry.metrics()).not.toContain('dbleases_client_');
  });

  it('shows the renewal age growing while renewals are blocked, and falling once they land again', async () => {
    const { client } = await startClient(pool, 'stalled', schema, 'jobs', 4);
    const metrics = clientMetrics(client);
    const age = async () =>
      sample(
        await metrics.registry.metrics(),
        /dbleases_client_seconds_since_renewal\{client="stalled"\} ([\d.e-]+)/,
      ) ?? NaN;
    const blocker = await pool.connect();
    try {
      await waitFor('a renewal', async () => (await age()) < 0.3);
      // A real fault: an exclusive lock on the clients table holds every renewal statement.
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${schema}"."db_leases_clients" IN ACCESS EXCLUSIVE MODE`);
      await waitFor('the renewal age to pass 0.6 s', async () => (await age()) > 0.6, 5_000);
      await blocker.query('ROLLBACK');
      await waitFor('renewals to land again', async () => (await age()) < 0.3, 5_000);
    } finally {
      blocker.release();
      metrics.stop();
      await client.close();
    }
  });
});
