import { DbleasesError, describe } from '../errors.js';

/** Job options that break per-partition FIFO order; refused by an ordered queue. */
export const ORDER_BREAKING_OPTIONS = ['delay', 'priority', 'lifo'] as const;

function refuse(where: string, option: string, value: unknown, allowed: string): never {
  throw new DbleasesError(
    'INVALID_OPTION',
    `\`${where}.${option}\` is ${describe(value)}, which breaks per-partition order: an ordered ` +
      `PartitionedQueue allows only ${allowed}. Create the queue with \`ordered: false\` to use it.`,
  );
}

/**
 * Refuses `delay` > 0, `priority` > 0 and `lifo: true` (the values that change BullMQ's FIFO order);
 * `0`, `false` and `undefined` pass. `where` names the options object in the message.
 */
export function checkOrderedJobOptions(opts: object | undefined, where: string): void {
  if (opts === undefined) return;
  const o = opts as { delay?: unknown; priority?: unknown; lifo?: unknown };
  if (o.delay !== undefined && o.delay !== 0) refuse(where, 'delay', o.delay, '`delay: 0` or no delay');
  if (o.priority !== undefined && o.priority !== 0)
    refuse(where, 'priority', o.priority, '`priority: 0` or no priority');
  if (o.lifo !== undefined && o.lifo !== false) refuse(where, 'lifo', o.lifo, '`lifo: false` or no lifo');
}
