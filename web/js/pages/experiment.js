// Experiment page (/experiments/NAME): its runs over time (a verdict strip,
// time-to-recover and availability trends drawn with uPlot from
// GET /experiments/NAME/trend), start-now and dry-run buttons (the dry run
// shows the resolved plan of the text in the editor), its schedules, and
// its YAML: coloured, editable by operators, validated on save with the
// errors shown at their lines (nothing is saved while there are errors).
import { get, post, api, can, ApiError } from '../api.js';
import { h, clear, verdict, section, errorBox } from '../dom.js';
import { time, dur, pct } from '../fmt.js';
import { navigate } from '../router.js';
import { yamlEditor } from '../yaml.js';
/* global uPlot */

const enc = encodeURIComponent;

export async function render(root, ctx) {
  const name = ctx.params.name;
  const charts = [];
  ctx.onCleanup(() => charts.forEach((u) => u.fl_disconnect()));
  const [x, trend, scheds] = await Promise.all([
    get(`/api/v1/experiments/${enc(name)}`, { signal: ctx.signal }),
    get(`/api/v1/experiments/${enc(name)}/trend?limit=100`, { signal: ctx.signal }),
    get('/api/v1/schedules', { signal: ctx.signal }),
  ]);
  document.title = `faultline: experiment ${name}`;
  const op = can('operator');
  const editor = yamlEditor({ value: x.content, readOnly: !op, label: `YAML of experiment ${name}` });
  const status = h('p', { id: 'yaml-status', class: 'muted', 'aria-live': 'polite' });
  const plan = h('div', { id: 'dry-run' });
  const actions = h('div', { class: 'buttons' });
  if (op) {
    actions.append(h('button', { type: 'button', class: 'primary', id: 'start-now', onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        const r = await post(`/api/v1/experiments/${enc(name)}/runs`);
        navigate(`/runs/${r.id}`);
      } catch (e) {
        ev.target.disabled = false;
        clear(plan, errorBox(e));
      }
    } }, 'Start now'));
  }
  actions.append(h('button', { type: 'button', id: 'dry-run-button', onclick: () => dryRun(name, editor, plan) },
    'Dry run'));
  const mine = scheds.schedules.filter((s) => s.experiment === name);
  clear(root,
    h('h1', {}, `Experiment ${name}`, h('span', { class: 'muted' }, ` · ${x.title}`)),
    h('div', { class: 'grid' },
      section('Actions', h('p', { class: 'hint' }, 'The dry run resolves the targets of the text below ',
        '(concrete pids, namespaces) and applies nothing.'), actions, plan),
      section('Facts', h('dl', { class: 'facts' },
        h('dt', {}, 'Title'), h('dd', {}, x.title),
        h('dt', {}, 'Created'), h('dd', {}, time(x.created_ms)),
        h('dt', {}, 'Updated'), h('dd', { id: 'updated' }, time(x.updated_ms)),
        h('dt', {}, 'Schedules'), h('dd', {}, mine.length ? mine.map((s, i) => [i ? ', ' : '',
          h('a', { href: `/schedules/${enc(s.name)}` }, s.name)]) : 'none', ' ',
        op ? h('a', { href: `/schedules?experiment=${enc(name)}#new` }, '(add one)') : null)))),
    trendSection(trend.runs, op),
    section('YAML', op ? h('p', { class: 'hint' }, 'Tab indents; Escape then Tab leaves the editor. ',
      'Saving validates first: nothing is stored while there are errors.') : null,
    editor.el, op ? h('div', { class: 'buttons' },
      h('button', { type: 'button', class: 'primary', id: 'save', onclick: () => save(name, editor, status, root) },
        'Save'),
      h('button', { type: 'button', id: 'validate', onclick: () => validate(name, editor, status) }, 'Validate'))
      : null, status));
  drawTrends(root, trend.runs, charts);
}

// The 422's details, or one detail made of the message.
function details(e) {
  return e.details || [{ line: null, column: null, message: e.message }];
}

async function validate(name, editor, status) {
  try {
    const r = await post('/api/v1/experiments/validate', { name, content: editor.value() });
    editor.setErrors([]);
    clear(status, h('span', { class: 'verdict-passed' }, '✓ valid'),
      r.warnings.length ? ` (${r.warnings.join('; ')})` : '');
    return true;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 422) throw e;
    editor.setErrors(details(e));
    clear(status, h('span', { class: 'error', role: 'alert' }, e.message));
    return false;
  }
}

async function save(name, editor, status, root) {
  const btn = root.querySelector('#save');
  btn.disabled = true;
  try {
    const r = await api('PUT', `/api/v1/experiments/${enc(name)}`, { content: editor.value() });
    editor.setErrors([]);
    clear(status, h('span', { class: 'verdict-passed' }, '✓ saved'), ' · ', r.title);
    clear(root.querySelector('#updated'), time(r.updated_ms));
  } catch (e) {
    if (e instanceof ApiError && e.status === 422) {
      editor.setErrors(details(e));
      clear(status, h('span', { class: 'error', role: 'alert' }, 'not saved: ', e.message));
    } else {
      clear(status, errorBox(e));
    }
  } finally {
    btn.disabled = false;
  }
}

async function dryRun(name, editor, box) {
  clear(box, h('p', { class: 'muted' }, 'planning…'));
  try {
    const r = await post(`/api/v1/experiments/${enc(name)}/dry-run`, { content: editor.value() });
    clear(box, r.ok ? h('p', { class: 'verdict-passed' }, '✓ every fault can be planned')
      : h('p', { class: 'error', role: 'alert' }, r.error),
    h('pre', { class: 'log plan', tabindex: '0', 'aria-label': 'resolved plan' }, r.plan));
  } catch (e) {
    if (e instanceof ApiError && e.status === 422) editor.setErrors(details(e));
    clear(box, errorBox(e));
  }
}

// The strip's colour class; "not started: system not steady" is a warning.
function stripClass(v) {
  return /^not started/.test(v) ? 'verdict-aborted' : `verdict-${v}`;
}

function trendSection(runs, op) {
  const last = runs.slice(-60);
  const strip = h('ul', { class: 'strip', id: 'verdict-strip',
    'aria-label': `last ${last.length} verdicts, oldest first` },
  last.map((r) => h('li', {}, h('a', {
    class: stripClass(r.verdict), href: `/runs/${r.id}`,
    title: `run ${r.id}: ${r.verdict}`, 'aria-label': `run ${r.id}: ${r.verdict}`,
  }))));
  const rows = runs.slice().reverse().slice(0, 30).map((r) => h('tr', {},
    h('td', {}, h('a', { href: `/runs/${r.id}` }, r.id)), h('td', {}, time(r.created_ms)),
    h('td', {}, verdict(r.verdict)), h('td', { class: 'num' }, pct(r.availability)),
    h('td', { class: 'num' }, dur(r.time_to_recover_ms)),
    h('td', { class: 'hide-narrow' }, r.schedule ? h('a', { href: `/schedules/${enc(r.schedule)}` }, r.schedule) : r.trigger),
    op ? h('td', {}, h('a', { href: `/bulletins/new?run=${r.id}`, 'aria-label': `new bulletin from run ${r.id}` },
      'bulletin…')) : null));
  return section('Runs over time', runs.length ? [
    strip,
    h('div', { class: 'grid' },
      h('div', { class: 'chart' }, h('h3', {}, 'Time to recover'), h('div', { id: 'trend-ttr' })),
      h('div', { class: 'chart' }, h('h3', {}, 'Availability (lowest steady-state probe)'),
        h('div', { id: 'trend-availability' }))),
    h('div', { class: 'table-wrap' }, h('table', { id: 'runs' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Run'), h('th', {}, 'Started'), h('th', {}, 'Verdict'),
        h('th', { class: 'num' }, 'Availability'), h('th', { class: 'num' }, 'Time to recover'),
        h('th', { class: 'hide-narrow' }, 'Trigger'), op ? h('th', {}, h('span', { class: 'visually-hidden' }, 'Bulletin')) : null)),
      h('tbody', {}, rows))),
  ] : h('p', { class: 'muted', id: 'no-runs' }, 'No finished runs yet.'));
}

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// One trend chart: x the run's start (local time axis), y the value; runs
// without a value leave a gap. Sets data-drawn on the container as the run
// page's charts do, for tests.
function trendChart(el, runs, label, value, fmt, range) {
  const xs = runs.map((r) => r.created_ms / 1000);
  const ys = runs.map(value);
  const u = new uPlot({
    width: Math.max(260, el.clientWidth || 400),
    height: 180,
    series: [{}, { label, stroke: css('--series'), width: 1.5, spanGaps: false,
      points: { show: true, size: 6, fill: css('--series') }, value: (uu, v) => fmt(v) }],
    scales: { x: { time: true }, y: range ? { range } : {} },
    axes: [{ stroke: css('--muted'), grid: { stroke: css('--grid') } },
      { stroke: css('--muted'), grid: { stroke: css('--grid') }, size: 72,
        values: (uu, vals) => vals.map((v) => fmt(v)) }],
    hooks: { draw: [() => { el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1); }] },
  }, [xs, ys], el);
  const ro = new ResizeObserver(() => {
    const w = Math.max(260, el.clientWidth);
    if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
  });
  ro.observe(el);
  u.fl_disconnect = () => { ro.disconnect(); u.destroy(); };
  return u;
}

function drawTrends(root, runs, charts) {
  const ttr = root.querySelector('#trend-ttr');
  const av = root.querySelector('#trend-availability');
  if (!ttr || !av) return;
  charts.push(trendChart(ttr, runs, 'time to recover', (r) => r.time_to_recover_ms ?? null,
    (v) => (v === null || v === undefined ? '—' : dur(v))));
  charts.push(trendChart(av, runs, 'availability', (r) => r.availability ?? null,
    (v) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(1)} %`), () => [0, 100]));
}
