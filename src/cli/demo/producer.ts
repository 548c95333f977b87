/**
 * The demo's producer: `jobs` jobs over `keys` keys (`key-0` … ), job i being key i mod keys with
 * sequence number ⌊i / keys⌋ + 1, added with `addBulk` in batches every 50 ms, spread evenly over
 * `spreadMs`. Batches are sent one after the other, so each key's jobs reach Redis in sequence order.
 */
import { Redis } from 'ioredis';

import { PartitionedQueue } from '../../bullmq/index.js';
import type { JobData } from './worker-core.js';

export interface ProducerOptions {
  redisUrl: string;
  prefix: string;
  queue: string;
  partitions: number;
  jobs: number;
  keys: number;
  spreadMs: number;
}

export class Producer {
  /** Jobs Redis confirmed. */
  added = 0;
  error: string | undefined;
  readonly #redis: Redis;
  readonly #queue: PartitionedQueue<JobData>;
  #stopped = false;

  constructor(readonly opts: ProducerOptions) {
    this.#redis = new Redis(opts.redisUrl, {
      maxRetriesPerRequest: 3,
      connectionName: 'dbleases-demo-producer',
    });
    this.#redis.on('error', () => {});
    this.#queue = new PartitionedQueue<JobData>(opts.queue, {
      partitions: opts.partitions,
      connection: this.#redis,
      prefix: opts.prefix,
    });
  }

  /** Resolves when every job was added, the producer was stopped, or an add failed (`error`). */
  async run(): Promise<void> {
    const o = this.opts;
    const startedAt = performance.now();
    while (!this.#stopped && this.added < o.jobs) {
      const due = Math.min(o.jobs, Math.ceil((o.jobs * (performance.now() - startedAt + 50)) / o.spreadMs));
      if (due > this.added) {
        const batch = [];
        for (let i = this.added; i < due; i++) {
          const key = `key-${i % o.keys}`;
          batch.push({
            name: 'demo',
            data: { key, seq: Math.floor(i / o.keys) + 1 },
            opts: { partitionKey: key },
          });
        }
        try {
          await this.#queue.addBulk(batch);
        } catch (error) {
          this.error = error instanceof Error ? error.message : String(error);
          return;
        }
        this.added = due;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  async close(): Promise<void> {
    this.#stopped = true;
    await this.#queue.close().catch(() => {});
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
