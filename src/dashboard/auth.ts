/**
 * Access rules: with a token, every request needs `Authorization: Bearer <token>` or the login cookie;
 * without one, only requests addressed to a loopback host are served (a DNS-rebinding page cannot read
 * the dashboard through the browser of someone running it locally).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export const COOKIE_NAME = 'dbleases_token';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Compares in constant time (both sides hashed first, so lengths never leak either). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Whether the request carries the token, as a bearer header or as the login cookie. */
export function hasToken(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization;
  const bearer = auth?.match(/^Bearer\s+(.+?)\s*$/i)?.[1];
  let ok = false;
  // Check both, always, so timing does not tell which one was present.
  if (bearer !== undefined && safeEqual(bearer, token)) ok = true;
  const cookie = readCookie(req.headers.cookie, COOKIE_NAME);
  if (cookie !== undefined && safeEqual(cookie, token)) ok = true;
  return ok;
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 and ::1 (what `listen()` accepts without a token too). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/** The host name of a `Host` header, without its port. */
export function hostOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = header.match(/^(\[[^\]]+\]|[^:]+)(?::\d+)?$/);
  return m?.[1];
}
