// bench/dashboard's browser side: load each URL in a fresh headless
// chromium context (no cache) and report, per load, the time to first
// contentful paint, the time until the run page marked its charts drawn
// (performance mark fl:charts-drawn, after the frame that shows them) and
// the bytes transferred (Resource Timing's transferSize of the page and of
// every resource it loaded). Input: a JSON
// argument {chromium, urls: [...], timeout_ms}; output: JSON on stdout.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2]);
const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox', '--disable-gpu'] });
const results = [];
try {
  for (const url of cfg.urls) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName('fl:charts-drawn').length > 0,
      null, { timeout: cfg.timeout_ms, polling: 50 });
    const t = await page.evaluate(() => ({
      fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime ?? null,
      charts: performance.getEntriesByName('fl:charts-drawn')[0].startTime,
      points: Array.from(document.querySelectorAll('.chart .notes')).map((n) => n.textContent),
      // Resource Timing: bytes over the wire (headers and body) of the page and all it loaded
      bytes: [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
        .reduce((a, e) => a + (e.transferSize || 0), 0),
      requests: performance.getEntriesByType('resource').length + 1,
    }));
    results.push({ url, ...t });
    await ctx.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results));
