import { invalidArgument } from '../errors.js';

/** A partition key: a non-empty string, or a finite number (hashed as its canonical decimal string). */
export type PartitionKey = string | number;

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * FNV-1a, 32 bit, over the UTF-8 bytes of `text` (lone surrogates are encoded as U+FFFD, as
 * `TextEncoder` does). Unsigned result. Encodes on the fly: no allocation per call.
 */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, FNV_PRIME);
      continue;
    }
    if (code < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (code >> 6)), FNV_PRIME);
      hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), FNV_PRIME);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        hash = Math.imul(hash ^ (0xf0 | (code >> 18)), FNV_PRIME);
        hash = Math.imul(hash ^ (0x80 | ((code >> 12) & 0x3f)), FNV_PRIME);
        hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), FNV_PRIME);
        hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), FNV_PRIME);
        continue;
      }
      code = 0xfffd;
    }
    hash = Math.imul(hash ^ (0xe0 | (code >> 12)), FNV_PRIME);
    hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), FNV_PRIME);
    hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), FNV_PRIME);
  }
  return hash >>> 0;
}

/**
 * The canonical text of a partition key: a string as is, a number as `String(n)` (`17` and `"17"`
 * land in the same partition; `-0` is `"0"`). Anything else, an empty string or a non-finite number
 * throws `INVALID_ARGUMENT`.
 */
export function canonicalKey(key: unknown, name = 'partitionKey'): string {
  if (typeof key === 'string') {
    if (key.length > 0) return key;
  } else if (typeof key === 'number') {
    if (Number.isFinite(key)) return String(key);
  }
  throw invalidArgument(name, 'a non-empty string or a finite number', key);
}

/** `fnv1a32(canonicalKey(key)) mod partitions`: stable across processes, versions and restarts. */
export function partitionOf(key: unknown, partitions: number): number {
  return fnv1a32(canonicalKey(key)) % partitions;
}
