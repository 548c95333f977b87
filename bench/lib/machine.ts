import os from 'node:os';

import { Redis } from 'ioredis';
import pg from 'pg';

import { DATABASE_URL, REDIS_URL } from './common.js';

export interface Machine {
  date: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  redis: string;
  postgres: string;
  /** 1, 5 and 15 minute load averages (os.loadavg) when the run started. */
  loadavg: number[];
  platform: string;
}

export async function describeMachine(): Promise<Machine> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  try {
    await redis.connect();
    const info = await redis.info('server');
    const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    const pgVersion =
      (await pool.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ??
      'unknown';
    return {
      date: new Date().toISOString(),
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      redis: redisVersion,
      postgres: pgVersion,
      loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
      platform: `${os.platform()} ${os.release()}`,
    };
  } finally {
    redis.disconnect();
    await pool.end();
  }
}

export function machineLine(m: Machine): string {
  return (
    `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, ${m.platform}; Node ${m.node}, Redis ${m.redis}, ` +
    `Postgres ${m.postgres}; ${m.date}; loadavg ${m.loadavg.join(' / ')} (1/5/15 min)`
  );
}

/** Load averages now, rounded (to record how busy the shared machine was during a scenario). */
export function loadNow(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}
