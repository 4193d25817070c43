import { defineConfig } from '@playwright/test';

// Debian's Chromium (scripts/lib.sh ensure_chromium), never a downloaded browser; the host is
// started by scripts/console-test, which passes its address in FIELDLINE_BASE.
export default defineConfig({
  testDir: 'tests',
  testMatch: /.*\.spec\.ts/,
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: process.env.FIELDLINE_BASE,
    acceptDownloads: true,
    viewport: { width: 1280, height: 860 },
    timezoneId: 'UTC',
    launchOptions: { executablePath: process.env.CHROMIUM || '/usr/bin/chromium' },
  },
});
