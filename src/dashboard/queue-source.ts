/**
 * What the dashboard reads from a queue backend, behind one small interface so another backend (a
 * Postgres queue) can plug in next to the Redis one (`queues.ts`). Every method is read-only.
 */
import type { QueueCounts } from './types.js';

export interface QueueTarget {
  lease: string;
  partition: number;
  queue: string;
}

/** One look at a partition queue: what the operators' view samples about once a second. */
export interface QueueSample extends QueueCounts {
  /** The id of the job that runs next (the oldest waiting one), or null when nothing waits. */
  headId: string | null;
  /** When that job became waitable (added, plus its delay), ms since the epoch; null when unknown. */
  headSince: number | null;
  /** Jobs that completed since the previous sample of this queue (0 on the first). */
  completed: number;
  /** Jobs that failed for good since the previous sample of this queue (0 on the first). */
  failed: number;
}

export interface RunningJob {
  id: string;
  name: string;
  /** When this attempt started (ms since the epoch), or null. */
  startedAt: number | null;
  /** The attempt running now, from 1. */
  attempt: number;
  /** The worker that took it (dbleases/bullmq names Workers after the client id), or null. */
  worker: string | null;
}

export interface FailedJob {
  id: string;
  name: string;
  failedAt: number | null;
  attempts: number;
  reason: string;
}

export interface PartitionJobs {
  queue: string;
  counts: QueueCounts;
  /** Up to 20 running jobs, oldest first. */
  running: RunningJob[];
  /** Up to 10 final failures, newest first. */
  failures: FailedJob[];
  /** The next job, and the last failure recorded on it when it is being retried (ordered retry in place). */
  next: { id: string; name: string; since: number | null; attempts: number; lastError: string | null } | null;
  /** While the partition backs off (ordered retry in place): when the next attempt may start, ms since the epoch. */
  backoffUntil: number | null;
}

export interface QueueSource {
  /** Counts per target, in order. */
  counts(targets: QueueTarget[]): Promise<QueueCounts[]>;
  /** One sample per target, in order; completions are counted from the previous call's marks. */
  sample(targets: QueueTarget[]): Promise<QueueSample[]>;
  /** The running jobs, last failures and backoff of one partition queue. */
  partition(target: QueueTarget): Promise<PartitionJobs>;
  /** Which of these leases have partition queues. */
  recorded(leases: string[]): Promise<Set<string>>;
  close(): Promise<void>;
}
