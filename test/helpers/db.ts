import pg from 'pg';

import { DATABASE_URL, uniqueName } from './env.js';

/** A pool and a schema of this test file's own; `drop()` removes the schema and ends the pool. */
export async function testSchema(
  seed: string,
): Promise<{ pool: pg.Pool; schema: string; drop: () => Promise<void> }> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 20 });
  pool.on('error', () => {}); // a terminated idle connection must not crash the test process
  const schema = uniqueName(seed);
  return {
    pool,
    schema,
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await pool.end();
    },
  };
}
