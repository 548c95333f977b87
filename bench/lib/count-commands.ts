/**
 * Counts the Redis commands this process sends, by name, by wrapping ioredis'
 * `Redis.prototype.sendCommand` (every ioredis client, including BullMQ's duplicated blocking
 * connections, goes through it). `evalsha` is split by script name (`evalsha:moveToFinished`) where
 * ioredis knows the script. Pipelined commands count one each. Used by the profiling and scale
 * scenarios to see round trips per job and idle traffic without a private Redis.
 */
import { Redis } from 'ioredis';

const counts = new Map<string, number>();
const shaNames = new Map<string, string>();
let installed = false;

interface CommandLike {
  name: string;
  args: unknown[];
}

function scriptName(client: object, sha: string): string {
  const known = shaNames.get(sha);
  if (known) return known;
  const scripts = (client as { scriptsSet?: Record<string, { sha?: string }> }).scriptsSet ?? {};
  for (const [name, script] of Object.entries(scripts)) if (script.sha) shaNames.set(script.sha, name);
  return shaNames.get(sha) ?? sha.slice(0, 8);
}

export function installCommandCounter(): void {
  if (installed) return;
  installed = true;
  const proto = Redis.prototype as unknown as {
    sendCommand: (this: object, command: CommandLike, stream?: unknown) => unknown;
  };
  const original = proto.sendCommand;
  proto.sendCommand = function (this: object, command: CommandLike, stream?: unknown) {
    let name = command.name.toLowerCase();
    if (name === 'evalsha' && typeof command.args[0] === 'string')
      name = `evalsha:${scriptName(this, command.args[0])}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return original.call(this, command, stream);
  };
}

/** Commands sent so far, by name. */
export function commandCounts(): Record<string, number> {
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

export function totalCommands(): number {
  let n = 0;
  for (const v of counts.values()) n += v;
  return n;
}

/** Difference of two `commandCounts()` snapshots (after − before), sorted by count. */
export function diffCounts(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const out: Array<[string, number]> = [];
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out.push([k, d]);
  }
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}
