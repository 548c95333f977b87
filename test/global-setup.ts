import net from 'node:net';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Fails the whole run at once, with one clear message, when Postgres or Redis is missing. */
export default async function setup(): Promise<void> {
  process.env.DATABASE_URL ??= DEFAULT_DATABASE_URL;
  process.env.REDIS_URL ??= DEFAULT_REDIS_URL;
  const missing: string[] = [];
  if (!(await reachable(process.env.DATABASE_URL, 5432)))
    missing.push(`Postgres at ${process.env.DATABASE_URL}`);
  if (!(await reachable(process.env.REDIS_URL, 6379))) missing.push(`Redis at ${process.env.REDIS_URL}`);
  if (missing.length > 0) {
    throw new Error(
      `The tests need a real database: no answer from ${missing.join(' and ')}.\n` +
        'Start both with `docker compose up -d` (Postgres 17 and Redis 7 on 127.0.0.1), or point ' +
        'DATABASE_URL / REDIS_URL at running servers.',
    );
  }
}
