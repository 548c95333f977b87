import type { Cluster, Redis } from 'ioredis';

/**
 * Takeover: the lease just granted this partition, so the previous owner has stopped (drained,
 * crashed, or self-fenced). Every job still active in the queue is a leftover of that owner: drop
 * its lock and mark it stalled, and clear the stalled-check throttle, so that BullMQ's own
 * `moveStalledJobsToWait` (called right after) puts it back at the head of the wait list at once
 * instead of after lock expiry + up to two stalled intervals. Also sets global concurrency 1.
 *
 * KEYS: active, stalled, stalled-check, meta. ARGV: job key prefix (`<prefix>:<queue>:`), ordered (1/0).
 */
const RECLAIM = `
if ARGV[2] == '1' then redis.call('HSET', KEYS[4], 'concurrency', 1) end
local active = redis.call('LRANGE', KEYS[1], 0, -1)
for _, id in ipairs(active) do
  redis.call('DEL', ARGV[1] .. id .. ':lock')
  redis.call('SADD', KEYS[2], id)
end
redis.call('DEL', KEYS[3])
return #active
`;

/**
 * Ordered retry, step one (step two is BullMQ's own move back to the head of the wait list via
 * `RateLimitError`): if we still hold the job's lock, count the failed attempt in the job hash
 * (`atm`, which BullMQ reads as `attemptsMade`), record the reason, and rate-limit the partition
 * queue for the backoff so that nothing else in the partition runs first, in any process.
 *
 * KEYS: job key, lock key, limiter key. ARGV: token, delay ms, failed reason. Returns 1, or -1
 * when the lock is not ours.
 */
const RETRY_IN_PLACE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('HINCRBY', KEYS[1], 'atm', 1)
redis.call('HSET', KEYS[1], 'failedReason', ARGV[3])
local delay = tonumber(ARGV[2])
if delay > 0 then redis.call('SET', KEYS[3], '9007199254740991', 'PX', delay) end
return 1
`;

export async function reclaimActive(
  redis: Redis | Cluster,
  keys: { active: string; stalled: string; stalledCheck: string; meta: string; jobPrefix: string },
  ordered: boolean,
): Promise<number> {
  const n = await redis.eval(
    RECLAIM,
    4,
    keys.active,
    keys.stalled,
    keys.stalledCheck,
    keys.meta,
    keys.jobPrefix,
    ordered ? '1' : '0',
  );
  return Number(n);
}

export async function retryInPlace(
  redis: Redis | Cluster,
  keys: { job: string; limiter: string },
  token: string,
  delayMs: number,
  reason: string,
): Promise<boolean> {
  const r = await redis.eval(
    RETRY_IN_PLACE,
    3,
    keys.job,
    `${keys.job}:lock`,
    keys.limiter,
    token,
    String(Math.max(0, Math.round(delayMs))),
    reason,
  );
  return Number(r) === 1;
}
