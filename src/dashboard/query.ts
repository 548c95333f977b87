/**
 * The one validator for what a JSON API request names: query parameters and path segments. Every
 * refusal is a `BadRequest` (served as `400 { error }`) whose message names the parameter, the value
 * and what is allowed, so bad input never reaches Postgres or Redis.
 */

/** A request the dashboard refuses with 400; `message` is shown to the caller as is. */
export class BadRequest extends Error {
  readonly status = 400;
}

export type Param =
  /** A lease name as the lease core accepts it: 1 to 200 characters, no control characters. */
  | { type: 'lease' }
  /** A plain decimal integer (`0`-`9` only, no sign, exponent, hex or leading zeros) in `[min, max]`. */
  | { type: 'integer'; min: number; max: number };

type Value<P extends Param> = P extends { type: 'integer' } ? number : string;
export type Parsed<S extends Record<string, Param>> = { [K in keyof S]?: Value<S[K]> };

const shown = (value: string): string =>
  JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);

const expected = (p: Param): string =>
  p.type === 'lease'
    ? 'a lease name of 1 to 200 characters without control characters'
    : `a decimal integer from ${p.min} to ${p.max}`;

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true; // the lease core's rule
  }
  return false;
}

/** Checks one value; `where` is how the message names it (`query parameter \`limit\``). */
export function checkValue<P extends Param>(where: string, p: P, raw: string): Value<P> {
  if (p.type === 'lease') {
    if (raw.length === 0 || raw.length > 200 || hasControlCharacter(raw))
      throw new BadRequest(`Expected ${where} to be ${expected(p)}, got ${shown(raw)}`);
    return raw as Value<P>;
  }
  const n = /^(0|[1-9][0-9]{0,15})$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < p.min || n > p.max)
    throw new BadRequest(`Expected ${where} to be ${expected(p)}, got ${shown(raw)}`);
  return n as Value<P>;
}

/**
 * Reads the query string by `spec`: unknown or repeated parameters are refused, an empty value counts
 * as absent, every other value must pass its check.
 */
export function parseQuery<S extends Record<string, Param>>(search: URLSearchParams, spec: S): Parsed<S> {
  const out: Record<string, string | number> = {};
  const names = Object.keys(spec);
  const seen = new Set<string>();
  for (const [name, raw] of search) {
    const p = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!p) {
      throw new BadRequest(
        names.length === 0
          ? `Unknown query parameter ${shown(name)}: this endpoint takes none`
          : `Unknown query parameter ${shown(name)}: this endpoint takes ${names.map((n) => `\`${n}\``).join(', ')}`,
      );
    }
    if (seen.has(name)) throw new BadRequest(`Expected query parameter \`${name}\` at most once`);
    seen.add(name);
    if (raw === '') continue;
    out[name] = checkValue(`query parameter \`${name}\``, p, raw);
  }
  return out as Parsed<S>;
}

/** Decodes one percent-encoded path segment and checks it like a query value. */
export function pathSegment<P extends Param>(label: string, p: P, encoded: string): Value<P> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    throw new BadRequest(`The ${label} in the path is not valid percent-encoding: ${shown(encoded)}`);
  }
  return checkValue(`the ${label} in the path`, p, decoded);
}
