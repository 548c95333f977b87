/** Argument parsing shared by the subcommands (node:util parseArgs), and the one-line error they print. */
import type { ParseArgsConfig } from 'node:util';

import { DbleasesError } from '../errors.js';
import { validateIdentifier } from '../options.js';
import { startHint } from './install.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A mistake on the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const COMMON_OPTIONS = {
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  'table-prefix': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Runs a `parseArgs` call, turning its complaints into a `UsageError`. */
export function parsing<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** A `--schema`/`--table-prefix` value checked like the library checks it, but a usage mistake (exit 2). */
export function identifierFlag(flag: string, value: string, maxLength: number): string {
  try {
    return validateIdentifier(flag, value, maxLength);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

export function databaseUrl(flag: string | undefined): string {
  return flag ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
}

/** A URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/** An error already worded for the terminal. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** Runs `fn`, rewording database errors with the URL they concern. */
export async function withDatabase<T>(url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof UsageError || error instanceof CliError) throw error;
    throw new CliError(describeError(error, { databaseUrl: url }));
  }
}

/** One clear line for any error, never a stack trace. */
export function describeError(error: unknown, context: { databaseUrl?: string } = {}): string {
  if (error instanceof UsageError || error instanceof CliError || error instanceof DbleasesError)
    return error.message;
  const e = error as { code?: string; message?: string; errors?: unknown[] };
  const code =
    e?.code ?? (Array.isArray(e?.errors) ? (e.errors[0] as { code?: string } | undefined)?.code : undefined);
  const where = context.databaseUrl ? ` at ${redact(context.databaseUrl)}` : '';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ETIMEDOUT') {
    return `Could not connect to Postgres${where} (${code}): is it running? ${capitalize(startHint('Postgres', 'pass --database-url / set DATABASE_URL'))}`;
  }
  if (code === '42P01') {
    return `No dbleases tables found${where} (${e.message}): check --schema and --table-prefix, or start a lease client first (it creates them)`;
  }
  if (code === '3D000' || code === '28P01' || code === '28000')
    return `Postgres refused the connection${where}: ${e.message}`;
  const message = e?.message || String(error);
  return message.split('\n')[0] ?? message;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Replaces control characters (terminal escape sequences) in strings read from the database. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
