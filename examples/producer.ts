/**
 * A producer: enqueues numbered orders for 20 customers; each customer's orders land in one
 * partition and are processed in order, whichever worker owns that partition.
 *
 *   npx tsx examples/producer.ts          # Ctrl-C to stop
 */
import { PartitionedQueue } from 'dbleases/bullmq';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const queue = new PartitionedQueue<{ customer: string; seq: number }>('orders', {
  partitions: 16,
  connection: redis,
  prefix: process.env.BULL_PREFIX ?? 'bull',
});

const customers = Array.from({ length: 20 }, (_, i) => `customer-${i}`);
let seq = 0;
const timer = setInterval(() => {
  const jobs = customers.map((customer) => ({
    name: 'charge',
    data: { customer, seq: seq++ },
    opts: {
      partitionKey: customer,
      attempts: 3,
      backoff: { type: 'exponential', delay: 200 },
      removeOnComplete: 1000,
    },
  }));
  queue.addBulk(jobs).then(
    () =>
      console.log(
        `enqueued ${jobs.length} orders (up to #${seq - 1}); customer-0 → partition ${queue.partitionFor('customer-0')} (${queue.queueName(queue.partitionFor('customer-0'))})`,
      ),
    (error: Error) => console.error(`enqueue failed: ${error.message}`),
  );
}, 1_000);

process.on('SIGINT', () => {
  clearInterval(timer);
  void queue
    .close()
    .then(() => redis.quit())
    .then(() => process.exit(0));
});
