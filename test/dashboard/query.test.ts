/**
 * Bad input to the JSON API (issue #15, finding 6): every query parameter and path segment goes through
 * one validator, so a NUL in a lease name or a hex limit is a 400 naming the parameter, the value and
 * what is allowed — never a 500 carrying a Postgres message, never silently accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { uniqueName } from '../helpers/env.js';
import { dropSchema, newPool, request, writeFixture } from './helpers.js';

const pool = newPool();
const schema = uniqueName('dashboard-query');
let dashboard: Dashboard;
let url: string;

beforeAll(async () => {
  await writeFixture(pool, schema);
  dashboard = createDashboard({ db: pool, schema });
  url = (await dashboard.listen(0)).url;
});

afterAll(async () => {
  await dashboard?.close();
  await dropSchema(pool, schema);
  await pool.end();
});

const get = async (path: string) => {
  const res = await request(url + path);
  return { status: res.status, error: (JSON.parse(res.body) as { error?: string }).error ?? '' };
};

describe('GET /api/history query parameters', () => {
  it.each([
    ['lease=%00', '`lease`', '"\\u0000"'],
    ['lease=a%0Ab', '`lease`', '"a\\nb"'],
    [`lease=${'x'.repeat(201)}`, '`lease`', 'x...'],
  ])('refuses %s as a lease name with 400', async (query, names, value) => {
    const { status, error } = await get(`api/history?${query}`);
    expect(status).toBe(400);
    expect(error).toContain(names);
    expect(error).toContain(value);
    expect(error).toContain('a lease name of 1 to 200 characters without control characters');
    expect(error).not.toMatch(/syntax|invalid byte|UTF8|0x00/i); // nothing from Postgres
  });

  it.each(['0x10', '1e2', '%2B5', '-1', '5.0', '%205', '0010', '0', '1001', '99999999999999999999', 'ten'])(
    'refuses limit=%s with 400: only plain decimal integers from 1 to 1000',
    async (limit) => {
      const { status, error } = await get(`api/history?limit=${limit}`);
      expect(status).toBe(400);
      expect(error).toContain('query parameter `limit`');
      expect(error).toContain('a decimal integer from 1 to 1000');
      expect(error).toContain(JSON.stringify(decodeURIComponent(limit)));
    },
  );

  it('accepts plain values, and an empty one as absent', async () => {
    const res = await request(`${url}api/history?lease=static&limit=2`);
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body) as { history: unknown[] }).history).toHaveLength(2);
    expect((await request(`${url}api/history?limit=16`)).status).toBe(200);
    expect((await request(`${url}api/history?limit=1000`)).status).toBe(200);
    expect((await request(`${url}api/history?lease=&limit=`)).status).toBe(200);
  });

  it('refuses unknown and repeated parameters', async () => {
    const unknown = await get('api/history?lease=static&leases=x');
    expect(unknown.status).toBe(400);
    expect(unknown.error).toBe('Unknown query parameter "leases": this endpoint takes `lease`, `limit`');
    const twice = await get('api/history?limit=1&limit=2');
    expect(twice.status).toBe(400);
    expect(twice.error).toContain('`limit` at most once');
  });
});

describe('GET /api/leases and /api/leases/:name', () => {
  it('take no query parameters', async () => {
    for (const path of ['api/leases?x=1', 'api/leases/static?limit=1']) {
      const { status, error } = await get(path);
      expect(status, path).toBe(400);
      expect(error, path).toContain('this endpoint takes none');
    }
  });

  it('refuse a lease name in the path that no lease can have, and bad percent-encoding', async () => {
    const nul = await get('api/leases/a%00b');
    expect(nul.status).toBe(400);
    expect(nul.error).toBe(
      'Expected the lease name in the path to be a lease name of 1 to 200 characters without control characters, got "a\\u0000b"',
    );
    const broken = await get('api/leases/%E0%A4%A');
    expect(broken.status).toBe(400);
    expect(broken.error).toContain('not valid percent-encoding');
    expect((await request(`${url}api/leases/static`)).status).toBe(200);
    expect((await request(`${url}api/leases/nope`)).status).toBe(404);
  });
});
