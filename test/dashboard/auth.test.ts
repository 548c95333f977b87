/** The pure pieces of the access rules. */
import { describe, expect, it } from 'vitest';

import { hostOf, isLoopbackHost, readCookie, safeEqual } from '../../src/dashboard/auth.js';
import { escapeHtml } from '../../src/dashboard/page.js';

describe('access rule helpers', () => {
  it('recognises loopback hosts only', () => {
    for (const h of [
      'localhost',
      'app.localhost',
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
    ])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.1',
      'example.com',
      'localhost.example.com',
      '127.0.0.1.nip.io',
    ]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it('takes the host name out of a Host header', () => {
    expect(hostOf('127.0.0.1:3000')).toBe('127.0.0.1');
    expect(hostOf('[::1]:3000')).toBe('[::1]');
    expect(hostOf('localhost')).toBe('localhost');
    expect(hostOf(undefined)).toBeUndefined();
    expect(hostOf('a:b:c')).toBeUndefined();
  });

  it('reads one cookie among others, tolerating bad encoding', () => {
    expect(readCookie('a=1; dbleases_token=x%20y; b=2', 'dbleases_token')).toBe('x y');
    expect(readCookie('dbleases_token_other=1', 'dbleases_token')).toBeUndefined();
    expect(readCookie('dbleases_token=%E0%A4%A', 'dbleases_token')).toBeUndefined();
    expect(readCookie(undefined, 'dbleases_token')).toBeUndefined();
  });

  it('compares tokens of any length', () => {
    expect(safeEqual('secret-token', 'secret-token')).toBe(true);
    expect(safeEqual('secret-token', 'secret-tokem')).toBe(false);
    expect(safeEqual('short', 'a much longer string')).toBe(false);
  });

  it('escapes configuration text put into the page', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe(
      '&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#60;/a&#62;',
    );
  });
});
