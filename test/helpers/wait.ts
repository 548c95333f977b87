/**
 * Waits until `check` returns a truthy value (or stops throwing), polling every `interval` ms, and
 * fails with `message` and the last error after `timeout` ms. This waits on state, it does not sleep:
 * it returns as soon as the state is reached.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  {
    timeout = 10_000,
    interval = 10,
    message = 'condition',
  }: { timeout?: number; interval?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const end = performance.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (performance.now() > end) {
      throw new Error(
        `Timed out after ${timeout} ms waiting for ${message}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Resolves with the arguments of the next `event` from `emitter` that passes `filter`, or rejects after `timeout`. */
export function nextEvent<A extends unknown[]>(
  emitter: {
    on(event: string, l: (...args: A) => void): unknown;
    off(event: string, l: (...args: A) => void): unknown;
  },
  event: string,
  { timeout = 10_000, filter = () => true }: { timeout?: number; filter?: (...args: A) => boolean } = {},
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`Timed out after ${timeout} ms waiting for event ${event}`));
    }, timeout);
    const listener = (...args: A) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });
}
