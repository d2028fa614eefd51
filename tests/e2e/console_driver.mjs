// Drives the web console in Debian's headless chromium through
// playwright-core (web/node_modules), for tests/e2e/test_console.py.
// Input: one JSON argument {base, operator, viewer, runs: [A, B], live_experiment,
// out}. Output: one JSON document of what it saw on stdout; screenshots in out/.
// It asserts nothing itself: the test does, with messages.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2]);
const out = { errors: [], pages: {} };

function shot(page, name) {
  return page.screenshot({ path: path.join(cfg.out, `${name}.png`), fullPage: true });
}

// page.goto, again once when the host's network changed under chromium.
async function go(page, url) {
  try {
    return await page.goto(url);
  } catch (e) {
    if (!/ERR_NETWORK_CHANGED/.test(String(e))) throw e;
    out.networkChanged = (out.networkChanged || 0) + 1;
    return page.goto(url);
  }
}

async function context(browser, token, viewport = { width: 1200, height: 900 }, expect401 = false) {
  const ctx = await browser.newContext({ viewport, colorScheme: 'light' });
  // (init scripts run in every frame: the sandboxed report frame has no storage)
  await ctx.addInitScript((t) => { try { localStorage.setItem('faultline.token', t); } catch (e) { /* */ } }, token);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    // chromium aborts requests with ERR_NETWORK_CHANGED when any interface of
    // the host changes (other tests' veths and namespaces): not the console's error
    if (m.type() === 'error' && /net::ERR_NETWORK_CHANGED/.test(m.text())) {
      out.networkChanged = (out.networkChanged || 0) + 1;
    } else if (m.type() === 'error' && !(expect401 && /status of 401/.test(m.text()))) {
      out.errors.push(`${page.url()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => out.errors.push(`${page.url()}: ${e.message}`));
  return page;
}

// What a probe chart drew, read from its canvas pixels: how many series
// pixels (blue or purple strokes), and per plot column whether it is shaded
// with the fault colour (orange, translucent) in most of five rows.
async function chartPixels(page, index = 0) {
  return page.evaluate((i) => {
    const box = document.querySelectorAll('.chart .plot')[i];
    const canvas = box.querySelector('canvas');
    const g = canvas.getContext('2d');
    const px = devicePixelRatio;
    const d = box.dataset;
    const left = Number(d.plotLeft), top = Number(d.plotTop);
    const width = Number(d.plotWidth), height = Number(d.plotHeight);
    const img = g.getImageData(0, 0, canvas.width, canvas.height).data;
    const at = (x, y) => {
      const o = (Math.round(y * px) * canvas.width + Math.round(x * px)) * 4;
      return [img[o], img[o + 1], img[o + 2], img[o + 3]];
    };
    let series = 0;
    for (let o = 0; o < img.length; o += 4) {
      const [r, gg, b, a] = [img[o], img[o + 1], img[o + 2], img[o + 3]];
      if (a > 150 && b > r + 60 && b > 120) series++;
    }
    const shaded = [];
    const rows = [0.1, 0.3, 0.5, 0.7, 0.9].map((f) => top + f * height);
    for (let x = Math.ceil(left); x < left + width; x++) {
      let n = 0;
      for (const y of rows) {
        const [r, , b, a] = at(x, y);
        if (a > 15 && a < 140 && r > b + 60) n++;
      }
      shaded.push(n >= 3 ? 1 : 0);
    }
    return { series, shaded, left: Math.ceil(left), width, xMin: Number(d.xMin), xMax: Number(d.xMax),
      windows: JSON.parse(box.closest('.chart').dataset.windows || '[]') };
  }, index);
}

async function runPage(page, id, name) {
  await go(page, `${cfg.base}/runs/${id}`);
  await page.waitForSelector('main[data-charts-drawn]', { timeout: 20000 });
  await page.waitForSelector('.chart .plot[data-drawn]', { timeout: 20000 });
  const res = await chartPixels(page);
  res.verdict = await page.textContent('#verdict');
  res.events = await page.$$eval('#events tr', (r) => r.length);
  res.buttons = await page.$$eval('main button', (b) => b.map((x) => x.textContent));
  await shot(page, name);
  return res;
}

// An active fault on the overview: the viewer sees it without a Recover
// button; the operator recovers it from there.
async function fault(browser, op) {
  const sel = `tr[data-fault="${cfg.fault_id}"]`;
  const v = await context(browser, cfg.viewer);
  await go(v, `${cfg.base}/`);
  await v.waitForSelector(sel, { timeout: 20000 });
  const res = { viewerButtons: await v.$$eval(`${sel} button`, (b) => b.length) };
  await shot(v, 'overview-fault-viewer');
  await v.context().close();
  await go(op, `${cfg.base}/`);
  await op.waitForSelector(sel, { timeout: 20000 });
  res.operatorButtons = await op.$$eval(`${sel} button`, (b) => b.map((x) => x.textContent));
  await shot(op, 'overview-fault');
  await op.click(`${sel} button`);
  await op.waitForSelector('#no-faults', { timeout: 20000 });
  res.recovered = true;
  return res;
}

async function live(page) {
  // start a run from the overview's button, then follow it on its page
  await go(page, `${cfg.base}/`);
  const btn = page.locator(`.trend[data-experiment="${cfg.live_experiment}"] button.start`);
  await btn.waitFor({ timeout: 15000 });
  await btn.click();
  await page.waitForURL(/\/runs\/\d+$/, { timeout: 15000 });
  const id = Number(/\/runs\/(\d+)$/.exec(page.url())[1]);
  // the overview lists it in progress, following its events
  await page.goBack();
  await page.waitForSelector(`.running li[data-run="${id}"][data-events]`, { timeout: 15000 });
  await shot(page, 'overview-live');
  await page.click(`.running li[data-run="${id}"] a`);
  await page.waitForSelector('main[data-progress]', { timeout: 15000 });
  await page.evaluate(() => { window.flNoReload = true; });
  const before = await page.evaluate(() => ({ e: Number(document.querySelector('main').dataset.events),
    p: Number(document.querySelector('main').dataset.progress) }));
  await page.waitForFunction((b) => {
    const m = document.querySelector('main').dataset;
    return Number(m.events) > b.e && Number(m.progress) > b.p;
  }, before, { timeout: 20000 });
  const during = await page.evaluate(() => ({ e: Number(document.querySelector('main').dataset.events),
    p: Number(document.querySelector('main').dataset.progress) }));
  // the charts take the samples that arrive while the run goes on
  await page.waitForFunction(() => document.querySelector('main').dataset.runState === 'running' &&
    parseInt(document.querySelector('.chart .notes')?.textContent || '0', 10) > 0, null, { timeout: 20000 });
  const liveSamples = await page.evaluate(() => parseInt(document.querySelector('.chart .notes').textContent, 10));
  await shot(page, 'run-live');
  await page.waitForFunction(() => document.querySelector('main').dataset.runState === 'done',
    null, { timeout: 40000 });
  await page.waitForSelector('.chart .plot[data-drawn]', { timeout: 20000 });
  const noReload = await page.evaluate(() => window.flNoReload === true);
  await shot(page, 'run-live-done');
  return { id, before, during, noReload, liveSamples, url: page.url() };
}

async function main() {
  const browser = await chromium.launch({ executablePath: cfg.chromium || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const op = await context(browser, cfg.operator);
    await go(op, `${cfg.base}/`);
    await op.waitForSelector('main[data-loaded]', { timeout: 20000 });
    out.pages.overview = {
      strips: await op.$$eval('.strip a', (a) => a.length),
      next: await op.textContent('#sec-next-scheduled-runs + *'),
      bulletins: await op.textContent('#sec-open-bulletins + *'),
    };
    await shot(op, 'overview');
    out.pages.fault = await fault(browser, op);
    out.pages.runA = await runPage(op, cfg.runs[0], 'run-a');
    out.pages.runB = await runPage(op, cfg.runs[1], 'run-b');
    await go(op, `${cfg.base}/compare?a=${cfg.runs[0]}&b=${cfg.runs[1]}`);
    await op.waitForSelector('main[data-charts-drawn]', { timeout: 20000 });
    out.pages.compare = await chartPixels(op);
    await shot(op, 'compare');
    // keyboard only: Tab to the nav's Runs link, Enter; focus lands in the new view
    await go(op, `${cfg.base}/`);
    await op.waitForSelector('main[data-loaded]', { timeout: 20000 });
    let tabs = 0;
    for (; tabs < 10; tabs++) {
      await op.keyboard.press('Tab');
      if (await op.evaluate(() => document.activeElement?.textContent === 'Runs')) break;
    }
    const ring = await op.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    await op.keyboard.press('Enter');
    await op.waitForSelector('tr[data-run]');
    out.pages.keyboard = { tabs, ring, url: op.url(),
      focusInMain: await op.evaluate(() => document.getElementById('main').contains(document.activeElement)) };
    await shot(op, 'runs');
    await go(op, `${cfg.base}/runs/${cfg.workload_run}`);
    await op.click('.check button.show-report');
    await op.waitForSelector('iframe.report-frame', { timeout: 60000 });
    out.pages.workload = {
      checks: await op.$$eval('.check', (c) => c.length),
      text: await op.textContent('.check'),
      report: await op.$eval('iframe.report-frame', (f) => f.srcdoc),
      saveLink: await op.$eval('.report a[download]', (a) => a.href.startsWith('blob:')),
    };
    await shot(op, 'run-workload');
    out.pages.live = await live(op);

    const narrow = await context(browser, cfg.viewer, { width: 360, height: 740 });
    for (const [name, url] of [['narrow-overview', '/'], ['narrow-run', `/runs/${cfg.runs[0]}`]]) {
      await go(narrow, cfg.base + url);
      await narrow.waitForSelector(url === '/' ? 'main[data-loaded]' : '.chart .plot[data-drawn]', { timeout: 20000 });
      out.pages[name] = { scrollWidth: await narrow.evaluate(() => document.documentElement.scrollWidth) };
      await shot(narrow, name);
    }
    const viewer = await context(browser, cfg.viewer);
    await go(viewer, `${cfg.base}/`);
    await viewer.waitForSelector('main[data-loaded]', { timeout: 20000 });
    out.pages.viewer = {
      who: await viewer.textContent('#who'),
      buttons: await viewer.$$eval('main button', (b) => b.map((x) => x.textContent)),
      strips: await viewer.$$eval('.strip a', (a) => a.length),
    };
    await shot(viewer, 'overview-viewer');
    // a wrong token opens the token form instead of failing silently
    const stranger = await context(browser, 'not-a-token', undefined, true);
    await go(stranger, `${cfg.base}/`);
    await stranger.waitForSelector('#token-dialog[open]', { timeout: 10000 });
    await shot(stranger, 'token-form');
    await stranger.fill('#token-input', cfg.viewer);
    await stranger.press('#token-input', 'Enter');
    await stranger.waitForSelector('main[data-loaded]', { timeout: 20000 });
    out.pages.stranger = { who: await stranger.textContent('#who') };
  } finally {
    await browser.close();
  }
}

main().then(() => process.stdout.write(JSON.stringify(out)),
  (e) => { out.fatal = String(e && e.stack || e); process.stdout.write(JSON.stringify(out)); process.exitCode = 1; });
