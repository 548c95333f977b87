/**
 * The operators' view in real headless Chromium, through a fleet of three worker processes under a
 * steady load that loses one of them (SIGKILL): the throughput chart shows the dip and the recovery
 * with the crash marked on its time axis, the lag of the dead process's partitions rises and falls on
 * the grid, and a partition whose job never settles is flagged stuck (banner, cell, detail panel with
 * its running job). Saves test/artifacts/operators.png (the README's docs/dashboard.png).
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PartitionedQueue } from '../../src/bullmq/index.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { deletePrefix, redisClient } from '../bullmq/helpers.js';
import { findChromium } from '../helpers/browser.js';
import { Child } from '../helpers/child.js';
import { uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, waitFor } from './helpers.js';

/** Found like the other browser test's (CHROMIUM_PATH, the system's, playwright's); skipped without one, except on CI. */
const CHROMIUM = findChromium('test/dashboard/operators-browser.test.ts');

const SIZE = 12;
const NAME = 'fleet';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const pool = newPool();
const schema = uniqueName('dashboard-operators-browser');
const prefix = uniqueName('dashboard-operators-browser', 'bull');
const redis = redisClient();
const children: Child[] = [];
let queue: PartitionedQueue;
let dashboard: Dashboard;
let browser: Browser;
let page: Page;
let load: NodeJS.Timeout | undefined;

function start(id: string): Child {
  const child = new Child('bullmq/fixtures/worker-child.ts', {
    DBL_SCHEMA: schema,
    DBL_ID: id,
    // A 3 s ttl: the dead process's partitions wait 2-3 s for a new owner (the dip).
    DBL_TTL: '3000',
    DBL_HB: '750',
    BQ_NAME: NAME,
    BQ_PARTITIONS: String(SIZE),
    BQ_PREFIX: prefix,
    BQ_JOB_MS: '5',
  });
  children.push(child);
  return child;
}
const owned = (c: Child) => (c.last('partitions')?.values as number[] | undefined) ?? [];
const keyOf = (p: number) => {
  for (let i = 0; ; i++) if (queue.partitionFor(`k${i}`) === p) return `k${i}`;
};

/** The page's drawn total line: [bucket middle ms, jobs/s]. */
async function totalSeries(): Promise<[number, number][]> {
  return page.$eval('#chart [data-series="total"]', (el) => {
    const v = (el.getAttribute('data-values') ?? '').split(',').map(Number);
    const t = (el.getAttribute('data-times') ?? '').split(',').map(Number);
    return t.map((x, i) => [x, v[i] ?? 0] as [number, number]);
  });
}
async function maxLag(partitions: number[]): Promise<number> {
  return page.$$eval(
    `[data-lease="${NAME}"] .cell`,
    (cells, ps) => Math.max(0, ...ps.map((p) => Number(cells[p]?.getAttribute('data-lag-ms') || 0))),
    partitions,
  );
}

beforeAll(async () => {
  if (!CHROMIUM) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  queue = new PartitionedQueue(NAME, { partitions: SIZE, connection: redis, prefix });
  const fleet = ['worker-1', 'worker-2', 'worker-3'].map(start);
  await Promise.all(fleet.map((c) => c.waitFor((m) => m.type === 'ready', 30_000, 'ready')));
  await waitFor(
    'the fleet to share the lease',
    () => fleet.every((c) => owned(c).length > 0) && fleet.reduce((n, c) => n + owned(c).length, 0) === SIZE,
    30_000,
  );
  dashboard = createDashboard({
    db: pool,
    schema,
    connection: redis,
    prefix,
    stuckAfter: 2000,
    pollInterval: 200,
  });
  const { url } = await dashboard.listen(0);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
  await page.goto(url);
  await page.waitForSelector('body[data-stream="live"]');
});

afterAll(async () => {
  clearInterval(load);
  await browser?.close();
  await dashboard?.close();
  await Promise.all(children.map((c) => c.stop()));
  await queue?.close();
  await deletePrefix(redis, prefix);
  redis.disconnect();
  await dropSchema(pool, schema);
  await pool.end();
});

describe.skipIf(!CHROMIUM)("operators' view in Chromium", () => {
  it('flags the partition whose job never settles', async () => {
    // Steady load: 4 jobs every 50 ms over every partition (about 80 jobs/s).
    let seq = 0;
    load = setInterval(() => {
      const jobs = Array.from({ length: 4 }, () => {
        const n = seq++;
        return { name: 'tick', data: { key: `c${n % 48}`, seq: n }, opts: { partitionKey: `c${n % 48}` } };
      });
      void queue.addBulk(jobs).catch(() => {});
    }, 50);
    // The stuck one: held for 10 minutes on its first start, so its partition's next job never moves.
    const stuck = 0;
    await queue.add('hold', { key: keyOf(stuck), seq: -1, holdMs: 600_000 }, { partitionKey: keyOf(stuck) });
    await page.waitForSelector(`[data-lease="${NAME}"] .cell[data-partition="${stuck}"][data-stuck="true"]`, {
      timeout: 15_000,
    });
    expect(await page.locator('#stuck').innerText()).toMatch(
      new RegExp(`1 stuck partition .*${NAME} ${stuck}\\b`),
    );
    expect(await page.locator('#stat-stuck').innerText()).toBe('1');
    // The Lag switch colours the grid by the heat scale: the stuck cell is far along it, the others pale.
    const background = (p: number) =>
      page.$eval(
        `[data-lease="${NAME}"] .cell[data-partition="${p}"]`,
        (c) => getComputedStyle(c).backgroundColor,
      );
    const ownerColour = await background(stuck);
    await page.click(`[data-lease="${NAME}"] .toggle button[data-mode="lag"]`);
    await page.waitForSelector(`[data-lease="${NAME}"][data-grid-mode="lag"]`);
    await page.waitForFunction(() => document.getAnimations().length === 0);
    const hot = (await background(stuck)).match(/\d+/g)?.map(Number) ?? [];
    expect(await background(stuck)).not.toBe(ownerColour);
    expect(hot[0]).toBeGreaterThan(200); // red channel high, blue low: yellow to red
    expect(hot[2]).toBeLessThan(200); // past the pale end (blue 231 at 0 s)
    await page.click(`[data-lease="${NAME}"] .toggle button[data-mode="owner"]`);
    await page.waitForSelector(`[data-lease="${NAME}"][data-grid-mode="owner"]`);
    await page.click(`[data-lease="${NAME}"] .cell[data-partition="${stuck}"]`);
    await page.waitForSelector('#detail table[data-jobs="running"]');
    const detail = await page.locator('#detail').innerText();
    expect(detail).toMatch(/stuck for \d/);
    expect(detail).toMatch(/hold/);
  });

  it('shows the dip and the recovery when a process dies, and the lag of its partitions rise and fall', async () => {
    // Enough history for a baseline.
    await waitFor('8 s of throughput on the chart', async () => (await totalSeries()).length >= 8, 20_000);
    const owner0 = children.find((c) => owned(c).includes(0));
    const victim = children.find((c) => c !== owner0 && owned(c).length > 0) as Child;
    const lost = owned(victim);
    const before = (await totalSeries()).slice(-6);
    const baseline = before.reduce((n, [, v]) => n + v, 0) / before.length;
    expect(baseline).toBeGreaterThan(20);
    const killedAt = Date.now();
    victim.kill('SIGKILL');

    const seen: number[] = [];
    const peakLag = await waitFor(
      'the lag of the dead process partitions to rise',
      async () => {
        const l = await maxLag(lost);
        if (seen[seen.length - 1] !== l) seen.push(l);
        return l > 1000 && l;
      },
      15_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message} (lags seen on ${lost.join(',')}: ${seen.join(' ')})`);
    });
    expect(peakLag).toBeGreaterThan(1000);
    await waitFor('their lag to fall back', async () => (await maxLag(lost)) < 500, 20_000);
    // The chart: a bucket after the kill well under the baseline, and the rate back afterwards.
    const after = await waitFor(
      'the chart to cover 5 s after the recovery',
      async () => {
        const s = (await totalSeries()).filter(([t]) => t > killedAt - 500);
        return s.length >= 8 && s;
      },
      20_000,
    );
    const dip = Math.min(...after.slice(0, 5).map(([, v]) => v));
    expect(dip).toBeLessThan(0.85 * baseline);
    const recovered = after.slice(-3).reduce((n, [, v]) => n + v, 0) / 3;
    expect(recovered).toBeGreaterThan(0.7 * baseline);
    // The crash is marked on the time axis.
    expect(await page.locator('#chart .move.crash').count()).toBeGreaterThan(0);
    await page.waitForFunction(() => document.getAnimations().length === 0);
    await page.screenshot({ path: `${ARTIFACTS}operators.png`, fullPage: true });
  });
});
