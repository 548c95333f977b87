import { invalidArgument, invalidOption } from './errors.js';
import type { Logger } from './lease/types.js';

export interface ClientOptions {
  /**
   * How long a client's ownership lasts without a renewal, in ms, judged by the database clock.
   * @defaultValue 6000
   */
  ttl?: number;
  /**
   * How often the client renews, in ms; at most half the ttl so a late renewal still lands in time.
   * @defaultValue 2000
   */
  heartbeat?: number;
  /** @defaultValue 'public' */
  schema?: string;
  /** @defaultValue 'db_leases' */
  tablePrefix?: string;
  /**
   * Bound on connecting and migrating at start, in ms.
   * @defaultValue 5000
   */
  migrationTimeout?: number;
  /**
   * How long a revoke step may take before its `signal` aborts, in ms (the release still waits for it).
   * @defaultValue 30000
   */
  drainTimeout?: number;
  /**
   * How long each database step of a close (marking the client closing, each release, the leave) may
   * wait for an answer, in ms. Past it `close()` stops trying and resolves anyway, reporting what it
   * skipped as a `CLOSE_INCOMPLETE` error event: the partitions then go free when the ttl runs out,
   * and the fence makes that safe. So `close()` resolves within the drains plus 2 × closeTimeout even
   * when Postgres does not answer.
   * @defaultValue 5000
   */
  closeTimeout?: number;
  /** A console- or pino-like logger, or `false` for none. @defaultValue false */
  logger?: Logger | false;
  /** LISTEN/NOTIFY wake-ups; `false` behind poolers that cannot LISTEN (polling still works). @defaultValue true */
  notify?: boolean;
  /** Facts shown to operators (dashboard); pid and hostname are added. @defaultValue {} */
  info?: Record<string, unknown>;
}

export const DEFAULTS = {
  ttl: 6_000,
  heartbeat: 2_000,
  schema: 'public',
  tablePrefix: 'db_leases',
  migrationTimeout: 5_000,
  drainTimeout: 30_000,
  closeTimeout: 5_000,
  logger: false,
  notify: true,
  info: {},
} as const satisfies Required<ClientOptions>;

export interface ResolvedClientOptions {
  ttl: number;
  heartbeat: number;
  schema: string;
  tablePrefix: string;
  migrationTimeout: number;
  drainTimeout: number;
  closeTimeout: number;
  logger: Logger;
  notify: boolean;
  info: Record<string, unknown>;
  /** The part of the ttl kept as a safety margin before the local deadline. */
  margin: number;
}

const IDENT = /^[a-z_][a-z0-9_]*$/;
/** Longest prefix so that `<prefix>_partitions_lease_fk` (the longest derived name) fits 63 bytes. */
export const MAX_PREFIX_LENGTH = 40;
export const MAX_CLIENT_ID_LENGTH = 200;

function integerIn(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer from ${min} to ${max}${unit}`, value);
  }
  return value;
}

export function validateIdentifier(name: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || !IDENT.test(value) || value.length > maxLength) {
    throw invalidOption(
      name,
      `a lower-case SQL identifier matching /^[a-z_][a-z0-9_]*$/ of at most ${maxLength} characters`,
      value,
    );
  }
  return value;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function resolveLogger(value: unknown): Logger {
  if (value === undefined || value === false) return silent;
  const v = value as Record<string, unknown>;
  if (
    typeof value === 'object' &&
    value !== null &&
    ['debug', 'info', 'warn', 'error'].every((k) => typeof v[k] === 'function')
  ) {
    return value as Logger;
  }
  throw invalidOption('logger', 'an object with debug, info, warn and error methods, or false', value);
}

/** Validates every option once, up front, and fills in the defaults. */
export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
  const known = new Set(Object.keys(DEFAULTS));
  for (const key of Object.keys(options)) {
    if (!known.has(key))
      throw invalidOption(
        key,
        `one of the known options (${[...known].join(', ')})`,
        (options as Record<string, unknown>)[key],
      );
  }
  // Only `undefined` means "use the default": an explicit null is a mistake worth reporting.
  const pick = <K extends keyof ClientOptions>(key: K): unknown =>
    options[key] === undefined ? DEFAULTS[key] : options[key];
  const ttl = integerIn('ttl', pick('ttl'), 1_000, 3_600_000, ' ms');
  const heartbeat = pick('heartbeat');
  if (
    typeof heartbeat !== 'number' ||
    !Number.isInteger(heartbeat) ||
    heartbeat < 50 ||
    heartbeat * 2 > ttl
  ) {
    throw invalidOption(
      'heartbeat',
      `an integer from 50 ms to half the ttl (${Math.floor(ttl / 2)} ms for ttl ${ttl}), so that a late renewal still lands before the ttl runs out`,
      heartbeat,
    );
  }
  const notify = pick('notify');
  if (typeof notify !== 'boolean') throw invalidOption('notify', 'a boolean', notify);
  const info = pick('info');
  if (typeof info !== 'object' || info === null || Array.isArray(info))
    throw invalidOption('info', 'a plain object', info);
  return {
    ttl,
    heartbeat,
    schema: validateIdentifier('schema', pick('schema'), 63),
    tablePrefix: validateIdentifier('tablePrefix', pick('tablePrefix'), MAX_PREFIX_LENGTH),
    migrationTimeout: integerIn('migrationTimeout', pick('migrationTimeout'), 100, 600_000, ' ms'),
    drainTimeout: integerIn('drainTimeout', pick('drainTimeout'), 0, 86_400_000, ' ms'),
    closeTimeout: integerIn('closeTimeout', pick('closeTimeout'), 100, 600_000, ' ms'),
    logger: resolveLogger(pick('logger')),
    notify,
    info: { ...(info as Record<string, unknown>) },
    margin: Math.max(100, Math.round(ttl * 0.1)),
  };
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Client ids: 1 to 200 characters, no control characters. */
export function validateClientId(value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_CLIENT_ID_LENGTH ||
    hasControlCharacter(value)
  ) {
    throw invalidArgument(
      'clientId',
      `a string of 1 to ${MAX_CLIENT_ID_LENGTH} characters without control characters`,
      value,
    );
  }
  return value;
}

export const MAX_LEASE_SIZE = 65_536;

export function validateLeaseName(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200 || hasControlCharacter(value)) {
    throw invalidArgument('name', 'a lease name of 1 to 200 characters without control characters', value);
  }
  return value;
}

export function validateLeaseSize(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_LEASE_SIZE) {
    throw invalidArgument('size', `an integer from 1 to ${MAX_LEASE_SIZE}`, value);
  }
  return value;
}
