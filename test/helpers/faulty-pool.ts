import type pg from 'pg';

/** What to do with one statement sent through a faulty pool, before (or instead of) sending it. */
export type Interceptor = (text: string) => 'pass' | 'fail' | Promise<'pass' | 'fail'> | undefined;

/**
 * A pg.Pool stand-in in front of a real pool, for faults the real server cannot be told to make:
 * - `hang()` makes every new query and connect() wait forever (a blackholed network, a starved
 *   server); `answer()` lets new ones through again. Queries already sent finish normally.
 * - `intercept(fn)` sees each statement's text first: `'fail'` rejects it with a connection error
 *   (as a transient failure would), a promise holds it until it settles; anything else sends it.
 */
export function faultyPool(pool: pg.Pool): {
  pool: pg.Pool;
  hang(): void;
  answer(): void;
  /** Queries and connects held since the last `hang()`. */
  held(): number;
  intercept(fn: Interceptor | undefined): void;
} {
  let hanging = false;
  let held = 0;
  let interceptor: Interceptor | undefined;
  const never = () => {
    held++;
    return new Promise<never>(() => {});
  };
  const send = async (target: { query: (...a: unknown[]) => unknown }, args: unknown[]) => {
    if (hanging) return never();
    const verdict = interceptor && typeof args[0] === 'string' ? await interceptor(args[0]) : 'pass';
    if (verdict === 'fail')
      throw Object.assign(new Error('Connection terminated unexpectedly (injected)'), {});
    if (hanging) return never();
    return target.query(...args);
  };
  const wrapClient = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === 'query') return (...args: unknown[]) => send(target as never, args);
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const wrapper = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query') return (...args: unknown[]) => send(target as never, args);
      if (prop === 'connect') return async () => (hanging ? never() : wrapClient(await target.connect()));
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    pool: wrapper,
    hang: () => {
      hanging = true;
      held = 0;
    },
    answer: () => {
      hanging = false;
    },
    held: () => held,
    intercept: (fn) => {
      interceptor = fn;
    },
  };
}
