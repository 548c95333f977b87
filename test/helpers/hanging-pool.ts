import type pg from 'pg';

/**
 * A pg.Pool stand-in in front of a real pool whose queries can be made to stop answering (as with a
 * blackholed network or a starved server): `hang()` makes every new query and connect() wait forever,
 * `answer()` lets new ones through again. Queries already sent finish normally.
 */
export function hangablePool(pool: pg.Pool): {
  pool: pg.Pool;
  hang(): void;
  answer(): void;
  /** Queries and connects that were held since the last `hang()`. */
  held(): number;
} {
  let hanging = false;
  let held = 0;
  const never = () => {
    held++;
    return new Promise<never>(() => {});
  };
  const wrapClient = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === 'query')
          return (...args: unknown[]) =>
            hanging ? never() : (target.query as (...a: unknown[]) => unknown)(...args);
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const wrapper = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query')
        return (...args: unknown[]) =>
          hanging ? never() : (target.query as (...a: unknown[]) => unknown)(...args);
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
  };
}
