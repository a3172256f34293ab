import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium (`.ci/chromium.sh` installs it); playwright's own browser downloads are not used. */
export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Whether the browser suites run: without chromium they are skipped with a message on a developer's
 * machine, but under CI (`CI` set) a missing browser is a failure, never a silent skip.
 */
export function browserAvailability(): { run: true } | { run: false; reason: string } {
  if (existsSync(CHROMIUM)) return { run: true };
  if (process.env.CI) {
    throw new Error(
      `${CHROMIUM} is missing and CI is set: run .ci/chromium.sh (the console's browser tests must run in CI)`,
    );
  }
  return {
    run: false,
    reason: `${CHROMIUM} is missing: the console's browser tests are skipped (install it with .ci/chromium.sh)`,
  };
}

export interface Browser {
  readonly context: BrowserContext;
  readonly downloads: string;
  close(): Promise<void>;
}

/** A fresh profile each time (nothing kept between runs), laptop-sized, downloads accepted. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'subledger-console-profile-'));
  const downloads = mkdtempSync(path.join(tmpdir(), 'subledger-console-downloads-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
    downloadsPath: downloads,
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  return {
    context,
    downloads,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      rmSync(downloads, { recursive: true, force: true });
    },
  };
}
