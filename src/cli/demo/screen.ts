/**
 * Output of the demo: event lines scroll; on a TTY the status (job progress, partitions per worker) is
 * one area redrawn in place below them; otherwise each change of a worker's partitions is a plain line,
 * and the job progress is a plain line every 2 s.
 */
import { compactRanges } from '../../dashboard/ranges.js';
import { formatTable } from '../table.js';
import type { DemoWorker } from './fleet.js';

export interface Progress {
  /** Distinct jobs completed. */
  done: number;
  /** Jobs the run will add. */
  total: number;
  enqueued: number;
  perSecond: number;
  moves: number;
  orderViolations: number;
  duplicates: number;
}

const BAR = 24;

export function progressLine(p: Progress): string {
  const filled = p.total === 0 ? BAR : Math.min(BAR, Math.floor((p.done / p.total) * BAR));
  const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR - filled)}`;
  const width = String(p.total).length;
  return (
    `${bar} ${String(p.done).padStart(width)}/${p.total} jobs (enqueued ${p.enqueued})  ${Math.round(p.perSecond)} jobs/s  ` +
    `moves ${p.moves}  order violations ${p.orderViolations}  duplicate executions ${p.duplicates}`
  );
}

export class Screen {
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  #drawn = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticks = 0;
  #lastPlain = '';

  constructor(
    readonly startedAt: number,
    readonly size: number,
    readonly workers: () => DemoWorker[],
    readonly progress: () => Progress,
    stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.#tty = stream.isTTY === true && process.env.TERM !== 'dumb';
    this.#write = (text) => stream.write(text);
  }

  elapsed(t = performance.timeOrigin + performance.now()): string {
    return `${((t - this.startedAt) / 1000).toFixed(1).padStart(5)} s`;
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#tty) this.#redraw();
      else if (++this.#ticks % 20 === 0) this.#plainProgress();
    }, 100);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    // The fleet has stopped by now: the last status is the progress alone (the final split is printed apart).
    if (this.#tty) this.#redraw(false);
    else this.#plainProgress();
    this.#drawn = 0;
  }

  /** The progress as a plain line, unless it says what the previous one said. */
  #plainProgress(): void {
    const line = progressLine(this.progress()).replace(/\s+\d+ jobs\/s/, '');
    if (line !== this.#lastPlain) this.#write(`${this.elapsed()}    ${progressLine(this.progress())}\n`);
    this.#lastPlain = line;
  }

  /** An event line, printed above the status area. */
  event(text: string): void {
    this.#clear();
    this.#write(`${this.elapsed()}  ${text}\n`);
    if (this.#tty && this.#timer) this.#redraw();
  }

  /** A worker's partitions changed (plain mode prints it; the TTY redraws on its timer). */
  changed(worker: DemoWorker): void {
    if (this.#tty) return;
    this.#write(
      `${this.elapsed()}    ${worker.id} owns ${String(worker.values.length).padStart(2)}: ${compactRanges(worker.values) || '-'}\n`,
    );
  }

  /** The ownership table: one row per worker. */
  table(): string {
    const rows = [['WORKER', 'PID', 'STATE', 'COUNT', 'PARTITIONS']];
    for (const w of this.workers()) {
      rows.push([
        w.id,
        String(w.pid ?? '-'),
        w.state,
        String(w.values.length),
        compactRanges(w.values) || '-',
      ]);
    }
    const owned = new Set(this.workers().flatMap((w) => w.values)).size;
    return `${formatTable(rows, new Set([1, 3]))}\n${owned}/${this.size} partitions owned`;
  }

  #clear(): void {
    if (this.#drawn > 0) this.#write(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }

  #redraw(table = true): void {
    this.#clear();
    const text = `\n${progressLine(this.progress())}\n${table ? `${this.table()}\n` : ''}`;
    this.#write(text);
    this.#drawn = text.split('\n').length - 1;
  }
}
