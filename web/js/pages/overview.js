// Overview (/): what is happening now and lately — active faults (recover,
// operators), runs in progress with live progress (SSE), the last runs,
// each experiment's verdict strip of its last 30 runs (start now,
// operators), the next scheduled runs with the state of their gates, open
// bulletins. Refreshed every 5 s while the page is open.
import { get, post, sse, can } from '../api.js';
import { navigate } from '../router.js';
import { h, clear, verdict, section, errorBox } from '../dom.js';
import { time, dur, ago } from '../fmt.js';

const REFRESH_MS = 5000;
const STRIP = 30;
const MAX_EXPERIMENTS = 40;

export async function render(root, ctx) {
  const boxes = {
    faults: section('Active faults'),
    running: section('Runs in progress'),
    last: section('Last runs'),
    trend: section('Experiments: last 30 verdicts'),
    next: section('Next scheduled runs'),
    bulletins: section('Open bulletins'),
  };
  boxes.last.classList.add('wide');
  clear(root, h('h1', {}, 'Overview'), h('div', { class: 'grid' }, Object.values(boxes)));
  const live = new Map(); // run id -> {row, abort}
  ctx.onCleanup(() => live.forEach((l) => l.abort.abort()));
  // force: after the user's own action (recover, start), even the section
  // that holds the focus shows the new state
  const refresh = async (force = false) => {
    await Promise.all([
      fill(boxes.faults, () => faults(ctx, refresh), force),
      fill(boxes.running, () => running(ctx, live, refresh), force),
      fill(boxes.last, () => lastRuns(ctx), force),
      fill(boxes.trend, () => trend(ctx, refresh), force),
      fill(boxes.next, () => nextRuns(ctx), force),
      fill(boxes.bulletins, () => bulletins(ctx), force),
    ]);
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  };
  await refresh();
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  ctx.onCleanup(() => clearInterval(timer));
}

// Replace a section's body with what make() returns, keeping its heading;
// a section that holds the keyboard focus waits for the next refresh, so a
// keyboard user's place is not taken away every 5 s.
async function fill(box, make, force) {
  let body;
  const keep = () => !force && box.dataset.filled && box.contains(document.activeElement);
  if (keep()) return;
  try {
    body = await make();
  } catch (e) {
    if (e.name === 'AbortError') return;
    body = errorBox(e);
  }
  if (body === undefined) return; // unchanged
  if (keep()) return;
  const heading = box.querySelector('h2');
  clear(box, heading, body);
  box.dataset.filled = '1';
}

function tableOf(headers, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => (typeof x === 'string' ? h('th', {}, x) : x)))),
    h('tbody', {}, rows)));
}

async function faults(ctx, refresh) {
  const r = await get('/api/v1/faults', { signal: ctx.signal });
  if (!r.faults.length) return h('p', { class: 'muted', id: 'no-faults' }, 'No fault is applied.');
  return tableOf(['Fault', 'Kind', 'What', 'Age', h('th', { class: 'hide-narrow' }, 'Owner'), ''],
    r.faults.map((f) => h('tr', { dataset: { fault: f.id } },
      h('td', {}, f.id), h('td', {}, f.kind), h('td', {}, f.description),
      h('td', {}, dur(f.age_ms)),
      h('td', { class: 'hide-narrow' }, f.owner_pid ? `pid ${f.owner_pid}${f.owner_alive ? '' : ' (gone)'}` :
        `detached${f.lease_left_ms !== null && f.lease_left_ms !== undefined ? `, lease ${dur(f.lease_left_ms)} left` : ''}`),
      h('td', {}, can('operator') ? h('button', { class: 'danger', type: 'button', onclick: async (ev) => {
        ev.target.disabled = true;
        try { await post(`/api/v1/faults/${encodeURIComponent(f.id)}/recover`); } catch (e) { alert(e.message); }
        refresh(true);
      } }, 'Recover') : null))));
}

// Running runs, each following its events over SSE; rows of runs still
// running are kept across refreshes so their streams stay open.
async function running(ctx, live, refresh) {
  const r = await get('/api/v1/runs?state=running&limit=50', { signal: ctx.signal });
  const ids = new Set(r.runs.map((x) => x.id));
  for (const [id, l] of live) if (!ids.has(id)) { l.abort.abort(); live.delete(id); }
  if (!r.runs.length) return h('p', { class: 'muted', id: 'no-running' }, 'No run in progress.');
  for (const run of r.runs) if (!live.has(run.id)) live.set(run.id, follow(run, ctx, refresh));
  return h('ul', { class: 'running' }, r.runs.map((run) => live.get(run.id).row));
}

function follow(run, ctx, refresh) {
  const abort = new AbortController();
  ctx.signal.addEventListener('abort', () => abort.abort());
  const bar = h('div', { style: 'width:0%' });
  const status = h('span', { class: 'muted' }, 'starting…');
  const row = h('li', { dataset: { run: run.id } },
    h('a', { href: `/runs/${run.id}` }, `Run ${run.id}`), ` · ${run.experiment} · `, status,
    h('div', { class: 'progress', role: 'progressbar', 'aria-label': `progress of run ${run.id}` }, bar));
  let events = 0, span = null, inject = null;
  sse(`/api/v1/runs/${run.id}/events`, (type, ev) => {
    if (type === 'end') { refresh(); return; }
    if (type !== 'event') return;
    events++;
    const m = /^injecting: \d+ step\(s\) over ([\d.]+)s/.exec(ev.message);
    if (m) { span = Number(m[1]) * 1000; inject = ev.t_ms; }
    let p = span && inject !== null ? Math.min(100, Math.round(100 * (ev.t_ms - inject) / span)) : 0;
    if (!['start', 'preflight', 'inject'].includes(ev.phase)) p = 100;
    bar.style.width = p + '%';
    row.dataset.events = String(events);
    row.dataset.progress = String(p);
    status.textContent = `${ev.phase} +${(ev.t_ms / 1000).toFixed(1)}s: ${ev.message}`;
  }, abort.signal).catch((e) => { status.textContent = e.message; });
  return { row, abort };
}

async function lastRuns(ctx) {
  const r = await get('/api/v1/runs?limit=15', { signal: ctx.signal });
  if (!r.runs.length) return h('p', { class: 'muted' }, 'No run yet.');
  return tableOf(['Run', 'Experiment', 'Verdict', h('th', { class: 'hide-narrow' }, 'Reason'), 'Started',
    h('th', { class: 'num hide-narrow' }, 'Took')],
  r.runs.map((x) => h('tr', { dataset: { run: x.id } },
    h('td', {}, h('a', { href: `/runs/${x.id}` }, `#${x.id}`)), h('td', {}, x.experiment),
    h('td', {}, verdict(x.verdict)), h('td', { class: 'hide-narrow' }, x.reason || ''),
    h('td', {}, time(x.created_ms)),
    h('td', { class: 'num hide-narrow' }, x.ended_ms ? dur(x.ended_ms - x.created_ms) : '…'))));
}

async function trend(ctx, refresh) {
  const r = await get('/api/v1/experiments', { signal: ctx.signal });
  if (!r.experiments.length) return h('p', { class: 'muted' }, 'No stored experiment.');
  const exps = r.experiments.slice(0, MAX_EXPERIMENTS);
  const runs = await Promise.all(exps.map((x) =>
    get(`/api/v1/runs?experiment=${encodeURIComponent(x.name)}&limit=${STRIP}`, { signal: ctx.signal })));
  return h('div', {}, exps.map((x, i) => {
    const list = runs[i].runs.slice().reverse(); // oldest first
    return h('div', { class: 'trend', dataset: { experiment: x.name } },
      h('div', { class: 'row' }, h('a', { href: `/experiments/${encodeURIComponent(x.name)}` }, h('strong', {}, x.name)),
        h('span', { class: 'muted' }, x.title),
        can('operator') ? h('button', { type: 'button', class: 'start', onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const run = await post(`/api/v1/experiments/${encodeURIComponent(x.name)}/runs`);
            navigate(`/runs/${run.id}`);
          } catch (e) {
            alert(e.message);
            refresh(true);
          }
        } }, 'Start now') : null),
      list.length ? h('ul', { class: 'strip', 'aria-label': `last ${list.length} verdicts of ${x.name}, oldest first` },
        list.map((run) => h('li', {}, h('a', {
          href: `/runs/${run.id}`, class: `verdict-${run.verdict}`,
          title: `run ${run.id}: ${run.verdict}`, 'aria-label': `run ${run.id}: ${run.verdict}`,
        })))) : h('p', { class: 'muted' }, 'no run yet'));
  }), r.experiments.length > MAX_EXPERIMENTS ?
    h('p', { class: 'hint' }, `and ${r.experiments.length - MAX_EXPERIMENTS} more`) : null);
}

// The gate state of a schedule as its newest run shows it: closed with the
// reason when that run was skipped, open when it ran (the server checks
// gates only when a schedule fires).
function gateState(s, last) {
  if (!(s.gates || []).length) return h('span', { class: 'muted' }, 'no gate');
  if (!last) return h('span', { class: 'muted' }, `${s.gates.length} gate(s), not checked yet`);
  if (last.verdict === 'skipped') {
    return h('span', { class: 'verdict-failed', title: last.reason || '' }, `closed: ${last.reason || '?'}`);
  }
  return h('span', { class: 'verdict-passed' }, `open at ${new Date(last.created_ms).toLocaleTimeString()}`);
}

async function nextRuns(ctx) {
  const r = await get('/api/v1/schedules', { signal: ctx.signal });
  if (!r.schedules.length) return h('p', { class: 'muted' }, 'No schedule.');
  const list = r.schedules.slice().sort((a, b) => (a.paused - b.paused) || ((a.fire_ms || 0) - (b.fire_ms || 0)));
  const shown = list.slice(0, 12);
  const last = await Promise.all(shown.map((s) =>
    get(`/api/v1/runs?schedule=${encodeURIComponent(s.name)}&limit=1`, { signal: ctx.signal })
      .then((x) => x.runs[0] || null)));
  return tableOf(['Schedule', 'Experiment', 'Next', 'Gates'], shown.map((s, i) => h('tr', {},
    h('td', {}, h('a', { href: `/schedules/${encodeURIComponent(s.name)}` }, s.name)),
    h('td', {}, s.experiment),
    h('td', {}, s.paused ? h('span', { class: 'muted' }, 'paused') : [time(s.fire_ms || s.next_ms), ' ',
      h('span', { class: 'hint' }, `(${s.cron})`)]),
    h('td', {}, gateState(s, last[i])))));
}

async function bulletins(ctx) {
  const r = await get('/api/v1/bulletins?status=open', { signal: ctx.signal });
  if (!r.bulletins.length) return h('p', { class: 'muted' }, 'No open bulletin.');
  return h('ul', {}, r.bulletins.slice(0, 10).map((b) => h('li', {},
    h('a', { href: `/bulletins/${b.id}` }, b.title), ' ', h('span', { class: 'muted' }, `${b.date} · updated ${ago(b.updated_ms)}`))));
}
