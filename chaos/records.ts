/**
 * The chaos run's own tables: what the producer enqueued, what the processors executed (accepted
 * and refused by the fence), the faults injected, and a full copy of the lease history. Shared by
 * the run (which writes them) and the oracle (which only reads them). This module does not import
 * the library: the oracle must not trust it.
 *
 * Terminology
 * - **job**: one (key, seq) pair the producer enqueued; seq counts 1, 2, 3… per key.
 * - **execution**: one run of a job's processor that reached its side effect (the fenced INSERT).
 *   **Accepted** when the partition's current epoch and owner were still the processor's, **refused**
 *   otherwise (a stale owner: paused, cut off, or already replaced).
 * - **fault**: something the run did to a worker or a server, at a database time (`clock_timestamp()`).
 * - **history copy**: every row the lease core writes to `<prefix>_history`, copied by a trigger (the
 *   library prunes its own table to the last 1000 rows per lease, which a long run outgrows).
 */

/** The subset of `pg.Pool` / `pg.Client` used here. */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Refuses anything but a plain lower-case identifier (schema and prefix names are pasted into SQL). */
export function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`Expected a lower-case SQL identifier, got ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** Fully qualified names of the record tables in `schema`. */
export function recordTables(schema: string) {
  const s = ident(schema);
  return {
    jobs: `${s}.chaos_jobs`,
    executions: `${s}.chaos_executions`,
    refused: `${s}.chaos_refused`,
    faults: `${s}.chaos_faults`,
    history: `${s}.chaos_history`,
    stalls: `${s}.chaos_stalls`,
  };
}

/** Creates the schema (if missing) and the record tables. */
export async function createRecordTables(db: Queryable, schema: string): Promise<void> {
  const t = recordTables(schema);
  const execution = `
    id bigserial PRIMARY KEY,
    key text NOT NULL,
    seq int NOT NULL,
    partition int NOT NULL,
    epoch bigint NOT NULL,
    owner text NOT NULL,
    pid int NOT NULL,
    job_id text,
    attempt int,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL`;
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
  await db.query(`
    CREATE TABLE IF NOT EXISTS ${t.jobs} (
      key text NOT NULL,
      seq int NOT NULL,
      partition int NOT NULL,
      enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (key, seq)
    );
    CREATE TABLE IF NOT EXISTS ${t.executions} (${execution});
    CREATE INDEX IF NOT EXISTS chaos_executions_key ON ${t.executions} (key, seq);
    CREATE INDEX IF NOT EXISTS chaos_executions_partition ON ${t.executions} (partition, started_at);
    CREATE TABLE IF NOT EXISTS ${t.refused} (${execution}, reason text);
    CREATE TABLE IF NOT EXISTS ${t.faults} (
      id int PRIMARY KEY,
      kind text NOT NULL,
      victim text,
      victim_pid int,
      at timestamptz NOT NULL,
      -- partitions the victim owned at the fault (from the lease's partition table)
      partitions int[] NOT NULL DEFAULT '{}',
      -- when the fault ended (SIGCONT, Postgres accepting connections again), if it lasts
      ended_at timestamptz,
      detail jsonb NOT NULL DEFAULT '{}'::jsonb
    );
    -- event-loop stalls of workers (context for slow measurements; not checked)
    CREATE TABLE IF NOT EXISTS ${t.stalls} (
      worker text NOT NULL,
      at timestamptz NOT NULL,
      ms int NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${t.history} (
      id bigint PRIMARY KEY,
      lease_name text NOT NULL,
      partition int NOT NULL,
      from_client text,
      to_client text,
      epoch bigint NOT NULL,
      reason text NOT NULL,
      at timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS chaos_history_partition ON ${t.history} (partition, at);`);
}

/**
 * Copies every row inserted into the lease core's history table (`<schema>.<prefix>_history`) into
 * `chaos_history`, with a trigger: the oracle then sees every move of the run, pruned or not.
 */
export async function tapLeaseHistory(db: Queryable, schema: string, tablePrefix: string): Promise<void> {
  const s = ident(schema);
  const source = `${s}.${ident(`${tablePrefix}_history`)}`;
  const t = recordTables(schema);
  await db.query(`
    CREATE OR REPLACE FUNCTION ${s}.chaos_copy_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO ${t.history} (id, lease_name, partition, from_client, to_client, epoch, reason, at)
      VALUES (NEW.id, NEW.lease_name, NEW.partition, NEW.from_client, NEW.to_client, NEW.epoch, NEW.reason, NEW.at)
      ON CONFLICT (id) DO NOTHING;
      RETURN NULL;
    END $$;
    DROP TRIGGER IF EXISTS chaos_copy_history ON ${source};
    CREATE TRIGGER chaos_copy_history AFTER INSERT ON ${source} FOR EACH ROW EXECUTE FUNCTION ${s}.chaos_copy_history();`);
}

/**
 * The fenced write of one execution, in one statement. The partition row is read `FOR SHARE`: a
 * concurrent claim (which updates that row) either commits first — then the row no longer matches and
 * the write is refused — or waits until this write committed. So an accepted write always happened
 * while its epoch was the partition's current one, never after the next owner took over.
 *
 * `$1` lease, `$2` partition, `$3` epoch, `$4` owner (client id), `$5` key, `$6` seq, `$7` pid,
 * `$8` job id, `$9` attempt, `$10` started at (ms since 1970, database clock). Returns `accepted`.
 */
export function fencedWriteSql(schema: string, tablePrefix: string): string {
  const t = recordTables(schema);
  const partitions = `${ident(schema)}.${ident(`${tablePrefix}_partitions`)}`;
  const cols = 'key, seq, partition, epoch, owner, pid, job_id, attempt, started_at, ended_at';
  const vals = '$5, $6, $2, $3, $4, $7, $8, $9, to_timestamp($10::float8 / 1000), clock_timestamp()';
  return `
    WITH fence AS (
      SELECT 1 FROM ${partitions}
      WHERE lease_name = $1 AND partition = $2 AND epoch = $3 AND owner = $4
      FOR SHARE
    ), accepted AS (
      INSERT INTO ${t.executions} (${cols}) SELECT ${vals} WHERE EXISTS (SELECT 1 FROM fence) RETURNING 1
    ), refused AS (
      INSERT INTO ${t.refused} (${cols}, reason)
      SELECT ${vals}, 'epoch ' || $3 || ' of partition ' || $2 || ' owned by ' || $4 || ' is no longer current'
      WHERE NOT EXISTS (SELECT 1 FROM fence) RETURNING 1
    )
    SELECT (SELECT count(*) FROM accepted)::int AS accepted`;
}
