import { EventEmitter } from 'node:events';

/**
 * An EventEmitter typed through an event map. Listener errors are caught and sent to `error`
 * listeners (or dropped with a warning when there are none), never thrown into the emitter's caller.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class TypedEmitter<Events extends { [K in keyof Events]: (...args: any[]) => void }> {
  readonly #ee = new EventEmitter();

  constructor() {
    this.#ee.setMaxListeners(0);
  }

  on<E extends keyof Events>(event: E, listener: Events[E]): this {
    this.#ee.on(event as string, listener);
    return this;
  }

  once<E extends keyof Events>(event: E, listener: Events[E]): this {
    this.#ee.once(event as string, listener);
    return this;
  }

  off<E extends keyof Events>(event: E, listener: Events[E]): this {
    this.#ee.off(event as string, listener);
    return this;
  }

  listenerCount<E extends keyof Events>(event: E): number {
    return this.#ee.listenerCount(event as string);
  }

  protected emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    for (const listener of this.#ee.listeners(event as string)) {
      try {
        listener(...args);
      } catch (error) {
        if (event !== 'error' && this.#ee.listenerCount('error') > 0) this.#ee.emit('error', error);
        else process.emitWarning(`dbleases: a ${String(event)} listener threw: ${String(error)}`);
      }
    }
  }
}
