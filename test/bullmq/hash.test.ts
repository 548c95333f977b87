/** The partition hash is a wire format: these vectors must never change (producers and workers of all versions agree). */
import { canonicalKey, fnv1a32, partitionOf } from 'dbleases/bullmq';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** Reference: FNV-1a 32 over TextEncoder's UTF-8 bytes. */
function reference(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h >>> 0;
}

describe('partition hash (FNV-1a 32-bit over UTF-8, mod N)', () => {
  it('matches fixed vectors (computed independently)', () => {
    const vectors: [string, number][] = [
      ['', 0x811c9dc5],
      ['a', 0xe40c292c],
      ['foobar', 0xbf9cf968],
      ['17', 0x1aeb28b1],
      ['customer-42', 0xfe68adbe],
      ['ü', 0x119dd44a],
      ['日本', 0x9f26ee51],
      ['😀', 0x33a29608],
      ['order:123', 0x226acd29],
      ['\ud800', 0x03479c4a], // a lone surrogate hashes as U+FFFD, like TextEncoder
    ];
    for (const [text, hash] of vectors) expect(fnv1a32(text), JSON.stringify(text)).toBe(hash);
    expect(partitionOf('customer-42', 128)).toBe(62);
    expect(partitionOf('foobar', 128)).toBe(104);
    expect(partitionOf('order:123', 16)).toBe(9);
  });

  it('hashes numbers by their canonical decimal string', () => {
    expect(partitionOf(17, 128)).toBe(49);
    expect(partitionOf(17, 128)).toBe(partitionOf('17', 128));
    expect(canonicalKey(-0)).toBe('0');
    expect(canonicalKey(1.5)).toBe('1.5');
  });

  it('equals the TextEncoder reference for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => fnv1a32(s) === reference(s)),
      { numRuns: 2000 },
    );
  });

  it('refuses missing, empty and non-string-or-number keys', () => {
    for (const bad of [undefined, null, '', NaN, Infinity, {}, [], true, 10n]) {
      expect(() => partitionOf(bad, 8)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    expect(() => partitionOf(undefined, 8)).toThrow(
      'Expected `partitionKey` to be a non-empty string or a finite number, got `undefined` (undefined)',
    );
  });
});
