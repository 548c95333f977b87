/**
 * Finds a Chromium for the browser test: `$CHROMIUM_PATH` when set (and only it), else the usual system
 * places, else the one playwright-core downloads. None found: `undefined` and one line saying how to
 * enable the test — except in CI (`CI=true`), where a missing browser is a failure.
 */
import { existsSync } from 'node:fs';

import { chromium } from 'playwright-core';

const SYSTEM = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

function playwrightChromium(): string | undefined {
  try {
    return chromium.executablePath();
  } catch {
    return undefined;
  }
}

/** Where the search looked, for the message. */
function candidates(env: NodeJS.ProcessEnv): string[] {
  if (env.CHROMIUM_PATH) return [env.CHROMIUM_PATH];
  const downloaded = playwrightChromium();
  return downloaded ? [...SYSTEM, downloaded] : SYSTEM;
}

export function findChromium(file: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const tried = candidates(env);
  const found = tried.find((path) => existsSync(path));
  if (found) return found;
  const how = env.CHROMIUM_PATH
    ? `CHROMIUM_PATH=${env.CHROMIUM_PATH} does not exist`
    : 'no Chromium found: set CHROMIUM_PATH, or apt-get install chromium, or npx playwright-core install chromium';
  if (env.CI === 'true') throw new Error(`${file} needs a browser in CI: ${how}`);
  console.warn(`${file} skipped: ${how}`);
  return undefined;
}
