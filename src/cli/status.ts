/** `dbleases status`: the ownership picture as a terminal table. */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { compactRanges } from '../dashboard/ranges.js';
import { readSnapshot, tableNames } from '../dashboard/snapshot.js';
import type { Snapshot } from '../dashboard/types.js';
import { toDbPort } from '../lease/db.js';
import { MAX_PREFIX_LENGTH } from '../options.js';
import { COMMON_OPTIONS, databaseUrl, identifierFlag, parsing, printable, withDatabase } from './args.js';
import { formatAge, formatTable } from './table.js';

export const usage = `Usage: dbleases status [options]

Prints who owns which partitions: one row per client (partitions as ranges, count, heartbeat
age) and one line per lease (its unowned partitions, if any).

Options:
  --database-url URL    Postgres (default: $DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --schema NAME         schema of the dbleases tables (default: public)
  --table-prefix NAME   table prefix (default: db_leases)
  --json                print the snapshot as JSON instead
  -h, --help            show this help`;

/** The table `dbleases status` prints (exported for tests and other tools). */
export function renderStatus(snapshot: Snapshot): string {
  const lines: string[] = [];
  if (snapshot.clients.length === 0) {
    lines.push('No clients.');
  } else {
    const rows = [['CLIENT', 'STATE', 'PARTITIONS', 'COUNT', 'HEARTBEAT']];
    const many = snapshot.leases.length > 1;
    for (const c of snapshot.clients) {
      const names = Object.keys(c.partitions).sort();
      const parts = names
        .map((n) =>
          many
            ? `${printable(n)}:${compactRanges(c.partitions[n] ?? [])}`
            : compactRanges(c.partitions[n] ?? []),
        )
        .join(' ');
      rows.push([
        printable(c.id),
        c.state,
        parts || '-',
        String(c.count),
        `${formatAge(c.heartbeatAgeMs)} ago`,
      ]);
    }
    lines.push(formatTable(rows, new Set([3, 4])));
  }
  lines.push('');
  if (snapshot.leases.length === 0) lines.push('No leases.');
  for (const l of snapshot.leases) {
    const unowned = l.partitions.filter((p) => p.status !== 'owned').map((p) => p.partition);
    lines.push(
      `lease ${printable(l.name)}: ${l.size} partitions, ${l.owned} owned, ` +
        (unowned.length === 0 ? 'none unowned' : `${unowned.length} unowned: ${compactRanges(unowned)}`),
    );
  }
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parsing(() =>
    parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }),
  );
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const schema = identifierFlag('--schema', values.schema ?? 'public', 63);
  const tablePrefix = identifierFlag(
    '--table-prefix',
    values['table-prefix'] ?? 'db_leases',
    MAX_PREFIX_LENGTH,
  );
  const url = databaseUrl(values['database-url']);
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {}); // an idle connection dropping is not this command's concern
  try {
    const snapshot = await withDatabase(url, () =>
      readSnapshot(toDbPort(pool), tableNames(schema, tablePrefix), 0),
    );
    console.log(values.json ? JSON.stringify(snapshot, null, 2) : renderStatus(snapshot));
    return 0;
  } finally {
    await pool.end().catch(() => undefined);
  }
}
