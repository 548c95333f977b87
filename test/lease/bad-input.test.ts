/**
 * Bad input to the lease core: each case gets a clear error that names the option or argument, the
 * value and what is allowed, and leaves nothing behind in the database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClient, type LeaseClient } from '../../src/index.js';
import { testSchema } from '../helpers/db.js';

let db: Awaited<ReturnType<typeof testSchema>>;
let client: LeaseClient;

beforeAll(async () => {
  db = await testSchema('bad-input');
  client = await createClient(db.pool, 'bad-input', { schema: db.schema, ttl: 1000, heartbeat: 250 });
});
afterAll(async () => {
  await client.close();
  await db.drop();
});

const optionCases: [string, Record<string, unknown>, RegExp][] = [
  [
    'ttl below 1 s',
    { ttl: 500 },
    /Expected `ttl` to be an integer from 1000 to 3600000 ms, got `500` \(number\)/,
  ],
  ['ttl not a number', { ttl: '6000' }, /`ttl`.*got `"6000"` \(string\)/],
  ['ttl NaN', { ttl: NaN }, /`ttl`.*got `NaN` \(number\)/],
  ['ttl fractional', { ttl: 1500.5 }, /`ttl`.*got `1500.5`/],
  [
    'heartbeat equal to ttl',
    { ttl: 6000, heartbeat: 6000 },
    /`heartbeat` to be an integer from 50 ms to half the ttl \(3000 ms for ttl 6000\).*got `6000`/,
  ],
  ['heartbeat above half the ttl', { ttl: 6000, heartbeat: 5000 }, /`heartbeat`.*got `5000`/],
  ['heartbeat not a number', { heartbeat: null }, /`heartbeat`.*got `null` \(null\)/],
  ['schema with a quote', { schema: 'a"b' }, /`schema` to be a lower-case SQL identifier.*got `"a\\"b"`/],
  ['schema with a semicolon', { schema: 'x; DROP TABLE y' }, /`schema`.*got `"x; DROP TABLE y"`/],
  ['schema in upper case', { schema: 'Public' }, /`schema`.*got `"Public"`/],
  ['schema over 63 bytes', { schema: 'a'.repeat(64) }, /`schema`.*at most 63 characters/],
  [
    'prefix too long for derived names',
    { tablePrefix: 'p'.repeat(41) },
    /`tablePrefix`.*at most 40 characters/,
  ],
  ['migrationTimeout negative', { migrationTimeout: -1 }, /`migrationTimeout`.*got `-1`/],
  [
    'closeTimeout below 100 ms',
    { closeTimeout: 50 },
    /`closeTimeout` to be an integer from 100 to 600000 ms, got `50` \(number\)/,
  ],
  [
    'logger without methods',
    { logger: {} },
    /`logger` to be an object with debug, info, warn and error methods, or false/,
  ],
  ['unknown option', { tll: 6000 }, /`tll` to be one of the known options/],
  ['notify not a boolean', { notify: 'yes' }, /`notify` to be a boolean/],
];

describe('createClient options', () => {
  it.each(optionCases)('%s', async (_name, options, message) => {
    const schema = `${db.schema}_${Math.random().toString(36).slice(2, 8)}`;
    await expect(createClient(db.pool, 'opt', { schema, ...options })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(message),
    });
    // Rejected before touching the database: no schema was created.
    expect(
      (await db.pool.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema]))
        .rows[0].n,
    ).toBe(0);
  });
});

describe('client ids and db', () => {
  it.each([
    ['empty', ''],
    ['huge', 'x'.repeat(201)],
    ['control characters', 'worker\n1'],
    ['not a string', 42],
  ])('refuses a client id that is %s', async (_name, id) => {
    await expect(createClient(db.pool, id as string, { schema: db.schema })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /`clientId` to be a string of 1 to 200 characters without control characters/,
      ),
    });
  });

  it('refuses something that is not a database', async () => {
    await expect(createClient({ hello: 1 }, 'x', { schema: db.schema })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/`db` to be a pg.Pool, a PGlite instance or a Drizzle database/),
    });
  });
});

describe('lease arguments', () => {
  it.each([
    ['0', 0],
    ['negative', -4],
    ['fractional', 2.5],
    ['NaN', NaN],
    ['absurdly large', 10_000_000],
    ['a string', '128'],
  ])('refuses a lease size that is %s', (_name, size) => {
    expect(() => client.lease('orders', size as number)).toThrow(
      /Expected `size` to be an integer from 1 to 65536, got/,
    );
  });

  it.each([
    ['empty', ''],
    ['with a control character', 'a\u0000b'],
  ])('refuses a lease name that is %s', (_name, name) => {
    expect(() => client.lease(name, 4)).toThrow(/Expected `name` to be a lease name of 1 to 200 characters/);
  });

  it('leaves no lease rows behind for refused arguments', async () => {
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".db_leases_leases`);
    expect(rows[0].n).toBe(0);
  });
});

describe('database handles', () => {
  it('refuses a single pg.Client (LISTEN and transactions need a pool)', async () => {
    const { default: pg } = await import('pg');
    const single = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await expect(createClient(single, 'single', { schema: db.schema })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/`db` to be a pg.Pool/),
    });
  });
});
