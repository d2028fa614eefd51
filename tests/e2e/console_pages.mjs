// Drives the console's Experiment, Schedules and Bulletins pages in Debian's
// headless chromium with playwright-core (web/node_modules, installed by
// scripts/bootstrap) for tests/e2e/test_console_pages.py, which prepares
// the server and its data and checks the results against the API.
// Environment: URL, OP_TOKEN, VIEW_TOKEN, OUT (screenshots), EXP (an
// experiment with finished runs), BAD_YAML, GOOD_YAML, SCHED (a schedule),
// RUN (a finished run). Prints one JSON object of observations.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const E = process.env;
const out = { consoleErrors: [], refused: [] };
const T = 15000;

async function context(browser, tok) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await ctx.addInitScript((t) => localStorage.setItem('faultline.token', t), tok);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    // chromium aborts requests with ERR_NETWORK_CHANGED when another test
    // changes the host's interfaces (veths, namespaces): not the console's error
    if (m.type() === 'error' && /net::ERR_NETWORK_CHANGED/.test(m.text())) out.networkChanged = (out.networkChanged || 0) + 1;
    else if (m.type() === 'error') out.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => out.consoleErrors.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400) out.refused.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  page.setDefaultTimeout(T);
  return page;
}

async function go(page, path) {
  try {
    await page.goto(E.URL + path);
  } catch (e) {
    if (!/ERR_NETWORK_CHANGED/.test(String(e))) throw e;
    out.networkChanged = (out.networkChanged || 0) + 1;
    await page.goto(E.URL + path);
  }
  await page.waitForFunction(() => !document.getElementById('main').hasAttribute('aria-busy'));
}

// Press Tab until the focused element matches sel (keyboard only).
async function tabTo(page, sel, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), sel)) return true;
  }
  return false;
}

// Pixels of a canvas that are not transparent: the chart really drew.
function inked(page, sel) {
  return page.$eval(`${sel} canvas`, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
    return n;
  });
}

async function experiment(page) {
  const name = encodeURIComponent(E.EXP);
  await go(page, `/experiments/${name}`);
  await page.waitForSelector('#trend-ttr[data-drawn]');
  await page.waitForSelector('#trend-availability[data-drawn]');
  out.strip = await page.$$eval('#verdict-strip a', (as) => as.map((a) => a.getAttribute('aria-label')));
  out.trendInk = [await inked(page, '#trend-ttr'), await inked(page, '#trend-availability')];
  out.highlightedKeys = await page.$$eval('.y-key', (ks) => ks.length);
  out.bulletinLinks = await page.$$eval('#runs a[href^="/bulletins/new?run="]', (as) => as.length);
  await page.screenshot({ path: `${E.OUT}/experiment.png`, fullPage: true });

  await page.click('#dry-run-button');
  await page.waitForSelector('pre.plan');
  out.dryRun = await page.textContent('#dry-run');

  // keyboard: Tab indents inside the editor, Escape then Tab leaves it
  await page.focus('textarea.y-input');
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Tab');
  out.tabIndents = await page.$eval('textarea.y-input', (t) => t.value.endsWith('  '));
  await page.keyboard.press('Escape');
  await page.keyboard.press('Tab');
  out.escapeTabLeaves = await page.evaluate(() => document.activeElement.id);
  await page.fill('textarea.y-input', E.BAD_YAML);
  await page.click('#save');
  await page.waitForSelector('.y-errors li');
  out.badLines = await page.$$eval('.y-ln.y-bad', (ls) => ls.map((l) => Number(l.dataset.line)));
  out.badCodeLines = await page.$$eval('.y-line.y-bad', (ls) => ls.map((l) => Number(l.dataset.line)));
  out.badList = await page.textContent('.y-errors');
  out.badStatus = await page.textContent('#yaml-status');
  await page.click('.y-errors button');
  out.caretLine = await page.$eval('textarea.y-input',
    (t) => t.value.slice(0, t.selectionStart).split('\n').length);
  await page.screenshot({ path: `${E.OUT}/experiment-error.png`, fullPage: true });

  await page.fill('textarea.y-input', E.GOOD_YAML);
  await page.click('#save');
  await page.waitForFunction(() => {
    const e = document.getElementById('yaml-status');
    return e && e.textContent.includes('saved');
  });
  out.goodStatus = await page.textContent('#yaml-status');
  out.errorsAfterSave = await page.$$eval('.y-ln.y-bad', (ls) => ls.length);

  await page.click('#start-now');
  await page.waitForURL(/\/runs\/\d+$/);
  out.startedRun = Number(new URL(page.url()).pathname.split('/').pop());
}

// The list, and a new experiment from the form's template.
async function experiments(page) {
  await go(page, '/experiments');
  out.listed = await page.$$eval('#experiments tbody tr', (rs) => rs.length);
  await page.fill('#new-name', 'from-template');
  await page.click('#new-experiment button[type=submit]');
  await page.waitForURL(/\/experiments\/from-template$/);
  await page.waitForSelector('#no-runs');
  out.newTitle = await page.textContent('main h1');
}

async function schedules(page) {
  await go(page, '/schedules');
  const row = `tr[data-schedule="${E.SCHED}"]`;
  await page.waitForSelector(row);
  out.stateBefore = (await page.textContent(`${row} td.state`)).trim();
  await page.focus('body');
  out.tabbedToPause = await tabTo(page, `${row} button.pause-resume`);
  await page.keyboard.press('Enter');
  await page.waitForFunction(([r, s]) => {
    const td = document.querySelector(`${r} td.state`);
    return td && td.textContent.trim() !== s;
  }, [row, out.stateBefore]);
  out.stateAfterPause = (await page.textContent(`${row} td.state`)).trim();
  await page.screenshot({ path: `${E.OUT}/schedules.png`, fullPage: true });
  out.pausedInApi = await page.evaluate(async ([name, tok]) => (await (await fetch(
    `/api/v1/schedules/${name}`, { headers: { Authorization: `Bearer ${tok}` } })).json()).paused, [E.SCHED, E.OP_TOKEN]);
  await page.click(`${row} button.pause-resume`);
  await page.waitForFunction((r) => {
    const td = document.querySelector(`${r} td.state`);
    return td && td.textContent.trim() === 'active';
  }, row);
  out.stateAfterResume = (await page.textContent(`${row} td.state`)).trim();

  await page.fill('#sched-name', 'from-console');
  await page.selectOption('#sched-experiment', E.EXP);
  await page.fill('#sched-cron', '');
  await page.type('#sched-cron', '*/5 * * * *', { delay: 20 });
  await page.waitForFunction(() => document.querySelectorAll('#cron-preview .preview-times li').length === 5);
  out.previewCount = await page.$$eval('#cron-preview .preview-times li', (ls) => ls.length);
  out.previewUtc = await page.$$eval('#cron-preview time', (ts) => ts.map((t) => t.getAttribute('datetime')));
  await page.fill('#sched-cron', '* 25 * * *');
  await page.waitForSelector('#cron-error');
  out.cronError = await page.textContent('#cron-error');
  await page.fill('#sched-cron', '0 4 * * mon');
  await page.waitForFunction(() => document.querySelectorAll('#cron-preview .preview-times li').length === 5);
  await page.click('#add-gate');
  await page.selectOption('#gates-list fieldset:last-child select.gate-type', 'previous_run_passed');
  await page.check('#sched-paused');
  await page.click('.schedule-form button[type=submit]');
  await page.waitForURL(/\/schedules\/from-console$/);
  await page.waitForSelector('#next-times li');
  out.nextTimes = await page.$$eval('#next-times li', (ls) => ls.length);
  out.gatesShown = await page.textContent('#gates');
  await page.screenshot({ path: `${E.OUT}/schedule.png`, fullPage: true });
}

async function bulletins(page) {
  await go(page, `/bulletins/new?run=${E.RUN}`);
  await page.click('#bulletin-from-run button[type=submit]');
  await page.waitForURL(/\/bulletins\/\d+$/);
  out.bulletin = Number(new URL(page.url()).pathname.split('/').pop());
  await page.waitForSelector('#export-md');
  await page.click('#export-md');
  await page.waitForSelector('#markdown:not([hidden])');
  out.markdown = await page.textContent('#markdown');
  out.downloadName = await page.getAttribute('#download-md', 'download');
  await page.screenshot({ path: `${E.OUT}/bulletin.png`, fullPage: true });
  await page.selectOption('#b-status', 'mitigated');
  await page.fill('#b-recommendations', 'Add a retry with backoff.');
  await page.click('#bulletin-edit button[type=submit]');
  await page.waitForFunction(() => {
    const e = document.getElementById('b-status-view');
    return e && e.textContent.includes('mitigated');
  });
  await go(page, '/bulletins?status=mitigated');
  out.mitigatedList = await page.$$eval('tr[data-bulletin]', (rs) => rs.map((r) => Number(r.dataset.bulletin)));
  await page.selectOption('#filter-status', 'open');
  await page.waitForURL(/status=open/);
  await page.waitForFunction(() => !document.getElementById('main').hasAttribute('aria-busy'));
  out.openList = await page.$$eval('tr[data-bulletin]', (rs) => rs.map((r) => Number(r.dataset.bulletin)));
  await page.screenshot({ path: `${E.OUT}/bulletins.png`, fullPage: true });
}

// What a viewer sees: pages load, no button that would fail.
async function viewer(page) {
  const seen = {};
  const count = (sel) => page.$$eval(sel, (els) => els.length);
  await go(page, `/experiments/${encodeURIComponent(E.EXP)}`);
  await page.waitForSelector('#trend-ttr[data-drawn]');
  seen.experiment = { save: await count('#save'), start: await count('#start-now'),
    textarea: await count('textarea'), dryRun: await count('#dry-run-button'),
    bulletinLinks: await count('a[href^="/bulletins/new"]'),
    yaml: await count('.y-key') };
  await page.screenshot({ path: `${E.OUT}/viewer-experiment.png`, fullPage: true });
  await go(page, '/experiments');
  await page.waitForSelector('#experiments');
  seen.experiments = { create: await count('#new-experiment') };
  await go(page, '/schedules');
  await page.waitForSelector('#schedules');
  seen.schedules = { pause: await count('.pause-resume'), form: await count('main form'),
    rows: await count('tr[data-schedule]') };
  await go(page, `/schedules/${encodeURIComponent(E.SCHED)}`);
  await page.waitForSelector('#next-times');
  seen.schedule = { pause: await count('.pause-resume'), form: await count('main form') };
  await go(page, '/bulletins');
  await page.waitForSelector('#bulletin-filter');
  seen.bulletins = { create: await count('#new-bulletin'), rows: await count('tr[data-bulletin]') };
  await go(page, `/bulletins/${out.bulletin}`);
  await page.waitForSelector('#export-md');
  seen.bulletin = { edit: await count('#bulletin-edit'), remove: await count('#delete-bulletin'),
    export: await count('#export-md') };
  // a phone during a game day: nothing wider than the screen
  await page.setViewportSize({ width: 390, height: 844 });
  seen.overflow = {};
  for (const [shot, path] of [['narrow-experiment', `/experiments/${encodeURIComponent(E.EXP)}`],
    ['narrow-schedules', '/schedules'], ['narrow-bulletin', `/bulletins/${out.bulletin}`]]) {
    await go(page, path);
    await page.waitForSelector('main h1');
    seen.overflow[shot] = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    await page.screenshot({ path: `${E.OUT}/${shot}.png`, fullPage: true });
  }
  out.viewer = seen;
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const op = await context(browser, E.OP_TOKEN);
  for (const [name, step] of [['experiment', experiment], ['experiments', experiments], ['schedules', schedules], ['bulletins', bulletins]]) {
    try {
      await step(op);
    } catch (e) {
      out.failed = `${name}: ${e.message}`;
      await op.screenshot({ path: `${E.OUT}/failed-${name}.png`, fullPage: true }).catch(() => null);
      throw e;
    }
  }
  await viewer(await context(browser, E.VIEW_TOKEN));
} catch (e) {
  out.failed = out.failed || String(e.stack || e);
} finally {
  await browser.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}
