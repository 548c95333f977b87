/**
 * Where the `dbleases` command runs from, so its messages fit: the repository checkout (where
 * `docker compose up -d` and `npm run demo` exist) or an installed package (where they do not); its
 * version; and which optional packages a subcommand needs, reported all at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root: `dist/cli/` or `src/cli/` → two levels up. */
const ROOT = new URL('../../', import.meta.url);

/** True in a clone of the repository (docker-compose.yml ships only there), false in node_modules. */
export const inCheckout =
  existsSync(fileURLToPath(new URL('docker-compose.yml', ROOT))) &&
  !fileURLToPath(ROOT).split(/[\\/]/).includes('node_modules');

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('package.json', ROOT)), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? 'unknown';
}

/**
 * What to do about a service that did not answer: `docker compose up -d` only in the checkout, where
 * its docker-compose.yml is; `alternatives` (flags, variables) everywhere.
 */
export function startHint(what: 'Postgres' | 'Redis', alternatives: string): string {
  return `start ${what}${inCheckout ? ' with `docker compose up -d`' : ''}, or ${alternatives}`;
}

/** The packages among `names` that cannot be imported, in order. */
export async function missingPackages(names: readonly string[]): Promise<string[]> {
  const results = await Promise.all(
    names.map((name) =>
      import(name).then(
        () => undefined,
        (error: unknown) => {
          const code = (error as { code?: string }).code;
          const message = (error as { message?: string }).message ?? '';
          // Only this package missing, not something it imports failing.
          return code === 'ERR_MODULE_NOT_FOUND' && message.includes(`'${name}'`) ? name : undefined;
        },
      ),
    ),
  );
  return results.filter((n): n is string => n !== undefined);
}
