/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per file
 * (node_modules package or project path), to see where a process spends its CPU.
 *
 *   npx tsx bench/lib/cpuprofile.ts <file.cpuprofile> [top]
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  functions: Array<{ name: string; where: string; selfMs: number; share: number }>;
  files: Array<{ where: string; selfMs: number; share: number }>;
}

function where(url: string): string {
  if (url === '') return '(native/idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  const bench = url.indexOf('/bench/');
  if (bench >= 0) return url.slice(bench + 1);
  return url.startsWith('node:') ? 'node (core)' : url;
}

export function summarise(profile: Profile, top = 15): ProfileSummary {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const fn = new Map<string, { name: string; where: string; selfMs: number }>();
  const files = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const ms = self.get(node.id) ?? 0;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
      if (name === '(idle)') continue;
    }
    total += ms;
    const w = where(node.callFrame.url);
    const key = `${name}@${node.callFrame.url}:${node.callFrame.lineNumber}`;
    const entry = fn.get(key) ?? { name, where: w, selfMs: 0 };
    entry.selfMs += ms;
    fn.set(key, entry);
    files.set(w, (files.get(w) ?? 0) + ms);
  }
  const share = (ms: number) => Math.round((ms / total) * 1000) / 10;
  return {
    totalMs: Math.round(total),
    functions: [...fn.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map((f) => ({ ...f, selfMs: Math.round(f.selfMs), share: share(f.selfMs) })),
    files: [...files]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([w, ms]) => ({ where: w, selfMs: Math.round(ms), share: share(ms) })),
  };
}

export async function summariseFile(file: string, top = 15): Promise<ProfileSummary> {
  return summarise(JSON.parse(await readFile(file, 'utf8')) as Profile, top);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = await summariseFile(process.argv[2]!, Number(process.argv[3] ?? 15));
  process.stdout.write(`total (non-idle) ${s.totalMs} ms\n\nby file:\n`);
  for (const f of s.files) process.stdout.write(`  ${f.share}%\t${f.selfMs} ms\t${f.where}\n`);
  process.stdout.write('\nby function (self):\n');
  for (const f of s.functions) process.stdout.write(`  ${f.share}%\t${f.selfMs} ms\t${f.name}\t${f.where}\n`);
}
