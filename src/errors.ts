/** Stable error codes; match on `error.code`, not on the message. */
export type DbleasesErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_ARGUMENT'
  | 'DUPLICATE_CLIENT_ID'
  | 'LEASE_SIZE_MISMATCH'
  | 'PARTITION_COUNT_MISMATCH'
  | 'DATABASE_UNREACHABLE'
  | 'MIGRATION_FAILED'
  | 'MIGRATION_NEWER_THAN_CODE'
  | 'CLIENT_CLOSED'
  | 'LEASE_LOST'
  | 'REVOKE_FAILED'
  | 'CLOSE_INCOMPLETE'
  | 'DUPLICATE_WORKER'
  | 'DATABASE_READ_ONLY'
  | 'DATABASE_ERROR'
  | 'REDIS_UNREACHABLE'
  | 'UNSUPPORTED_PEER_VERSION';

/** The base of every error this library throws or emits. */
export class DbleasesError extends Error {
  readonly code: DbleasesErrorCode;

  constructor(code: DbleasesErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbleasesError';
    this.code = code;
  }
}

/** Describes a value for an error message: `` `500` (number) ``. */
export function describe(value: unknown): string {
  let shown: string;
  if (typeof value === 'string')
    shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  else if (typeof value === 'bigint') shown = `${value}n`;
  else if (typeof value === 'function') shown = 'function';
  else {
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
    if (Number.isNaN(value)) shown = 'NaN';
    if (value === Infinity) shown = 'Infinity';
    if (value === -Infinity) shown = '-Infinity';
  }
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${type})`;
}

/** `Expected \`ttl\` to be an integer ≥ 1000 ms, got \`500\` (number)` */
export function invalidOption(name: string, expected: string, value: unknown): DbleasesError {
  return new DbleasesError(
    'INVALID_OPTION',
    `Expected \`${name}\` to be ${expected}, got ${describe(value)}`,
  );
}

export function invalidArgument(name: string, expected: string, value: unknown): DbleasesError {
  return new DbleasesError(
    'INVALID_ARGUMENT',
    `Expected \`${name}\` to be ${expected}, got ${describe(value)}`,
  );
}
