/**
 * Every ```ts block of README.md type-checks against the built package, as a consumer's code would:
 * imported by name from node_modules (the package's `exports` and `.d.ts`, not src/), strict, with
 * `moduleResolution` `nodenext` and `bundler`.
 *
 * Convention for fragments: an HTML comment right before the fence,
 * `<!-- snippet-preamble ... -->`, holds the imports and `declare`s of the names the fragment takes as
 * given (hidden on GitHub and npm, visible in the source next to the code it completes). Nothing else
 * is added, and no block is skipped.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { diagnostics, must, ROOT, run, TSC } from './helpers.js';

interface Snippet {
  line: number;
  preamble: string;
  code: string;
}

/** The ```ts blocks with their preambles. */
export function extractSnippets(markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const re = /(?:<!-- snippet-preamble[^\n]*\n([\s\S]*?)-->\n)?```ts\n([\s\S]*?)```/g;
  for (const m of markdown.matchAll(re)) {
    const line = markdown.slice(0, m.index).split('\n').length;
    out.push({ line, preamble: m[1] ?? '', code: m[2] ?? '' });
  }
  return out;
}

// Inside the repository, so the peers (pg, ioredis, bullmq, @types/*) resolve from its node_modules
// like a consumer's would; with its own package.json, so `dbleases` is not a self-reference.
const DIR = join(ROOT, 'test', 'artifacts', `readme-snippets-${process.pid}`);
const snippets = extractSnippets(readFileSync(join(ROOT, 'README.md'), 'utf8'));

const COMMON = {
  strict: true,
  target: 'ES2022',
  lib: ['ES2023', 'DOM'],
  types: ['node'],
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  moduleDetection: 'force',
};

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  const pkg = join(DIR, 'node_modules', 'dbleases');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(DIR, 'package.json'), JSON.stringify({ name: 'readme-snippets', type: 'module' }));
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  // The declarations `npm run build` ships, into this fake install (dist/ of the checkout is left alone).
  await must(
    process.execPath,
    [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--emitDeclarationOnly', '--outDir', join(pkg, 'dist')],
    { cwd: ROOT },
  );
  for (const s of snippets)
    writeFileSync(join(DIR, `snippet-${s.line}.ts`), `${s.preamble}\n${s.code}\nexport {};\n`);
  const files = snippets.map((s) => `snippet-${s.line}.ts`);
  for (const [name, module, moduleResolution] of [
    ['tsconfig.nodenext.json', 'NodeNext', 'NodeNext'],
    ['tsconfig.bundler.json', 'ESNext', 'Bundler'],
  ] as const) {
    const compilerOptions = { ...COMMON, module, moduleResolution };
    writeFileSync(join(DIR, name), JSON.stringify({ compilerOptions, files }, null, 2));
  }
}, 120_000);

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

it('finds the README snippets', () => {
  expect(snippets.length).toBeGreaterThanOrEqual(9);
  expect(snippets[0]?.code).toContain("from 'dbleases/bullmq'");
});

it.each(['nodenext', 'bundler'])(
  'type-checks every snippet with moduleResolution %s',
  async (kind) => {
    const res = await run(process.execPath, [TSC, '-p', `tsconfig.${kind}.json`], { cwd: DIR });
    expect(res.code, diagnostics(res)).toBe(0);
  },
  120_000,
);
