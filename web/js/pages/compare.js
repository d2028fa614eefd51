// Compare two runs of one experiment (/compare?a=ID&b=ID), e.g. before and
// after a fix: verdicts and times side by side, and per probe one chart
// with both runs overlaid, aligned on the start of their injection (A in
// the first series colour, B in the second; both runs' fault windows shaded).
import { get } from '../api.js';
import { navigate } from '../router.js';
import { h, clear, verdict, section } from '../dom.js';
import { time, dur, pct } from '../fmt.js';
import { timeline, latencyBound } from '../timeline.js';
import { probeChart, table } from '../charts.js';

export async function render(root, ctx) {
  const a = ctx.query.get('a'), b = ctx.query.get('b');
  if (!a || !b) return pick(root, ctx, a);
  const [ra, rb] = await Promise.all([a, b].map((id) => get(`/api/v1/runs/${encodeURIComponent(id)}`, { signal: ctx.signal })));
  const charts = [];
  ctx.onCleanup(() => charts.forEach((u) => u.fl_disconnect()));
  const box = section('Probes, aligned on the start of the injection');
  clear(root, h('h1', {}, `Compare runs ${ra.id} and ${rb.id} · ${ra.experiment}`),
    ra.experiment !== rb.experiment ? h('p', { class: 'error' },
      `These runs are of different experiments (${ra.experiment}, ${rb.experiment}).`) : null,
    h('div', { class: 'grid' }, card('A', ra), card('B', rb)), box);
  const width = Math.max(280, Math.round(box.clientWidth - 30));
  const [sa, sb] = await Promise.all([ra, rb].map((r) => get(`/api/v1/runs/${r.id}/series?width=${width}`, { signal: ctx.signal })));
  const ta = timeline(ra.run ? ra.run.events : []), tb = timeline(rb.run ? rb.run.events : []);
  const ia = ta.inject || 0, ib = tb.inject || 0;
  const css = (n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim();
  const windows = [
    ...ta.faults.map((f) => ({ start: f.start - ia, end: f.end - ia })),
    ...tb.faults.map((f) => ({ start: f.start - ib, end: f.end - ib, fill: css('--band-b'), edge: css('--series-b') })),
  ];
  const names = [...new Set([...sa.probes, ...sb.probes].map((p) => p.name))];
  const rows = [];
  for (const name of names) {
    const pa = sa.probes.find((p) => p.name === name), pb = sb.probes.find((p) => p.name === name);
    rows.push(h('tr', {}, h('td', {}, name),
      h('td', { class: 'num' }, pa ? pct(pa.availability) : '—'), h('td', { class: 'num' }, pb ? pct(pb.availability) : '—'),
      h('td', { class: 'num' }, pa ? dur(pa.time_to_recover_ms) : '—'), h('td', { class: 'num' }, pb ? dur(pb.time_to_recover_ms) : '—')));
    const tables = [], labels = [];
    if (pa) { tables.push(table(pa.series, ia)); labels.push(`A #${ra.id}`); }
    if (pb) { tables.push(table(pb.series, ib)); labels.push(`B #${rb.id}`); }
    const div = h('div', { class: 'plot' });
    box.append(h('div', { class: 'chart', dataset: { probe: name } }, h('h3', {}, name), div));
    charts.push(probeChart(div, { tables, labels, windows, bound: latencyBound((pa || pb).tolerance),
      xLabel: 'seconds from the start of the injection' }));
  }
  box.append(h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
    ['Probe', 'Availability A', 'Availability B', 'Time to recover A', 'Time to recover B'].map((x, i) => h('th', { class: i ? 'num' : null }, x)))),
  h('tbody', {}, rows))));
  root.dataset.chartsDrawn = '1';
}

function card(label, r) {
  return h('section', { class: 'card' }, h('h2', {}, `${label}: `, h('a', { href: `/runs/${r.id}` }, `run ${r.id}`), ' ', verdict(r.verdict)),
    h('p', {}, r.reason || (r.run && r.run.explanation) || '—'),
    h('dl', { class: 'facts' }, h('dt', {}, 'Started'), h('dd', {}, time(r.created_ms)),
      h('dt', {}, 'Duration'), h('dd', {}, r.run ? dur(r.run.duration_ms) : '—')));
}

// Choose the runs: A given (or not), B among the finished runs of A's experiment.
async function pick(root, ctx, a) {
  let exp = ctx.query.get('experiment');
  if (a && !exp) exp = (await get(`/api/v1/runs/${encodeURIComponent(a)}`, { signal: ctx.signal })).experiment;
  const r = await get(`/api/v1/runs?state=done&limit=200${exp ? `&experiment=${encodeURIComponent(exp)}` : ''}`, { signal: ctx.signal });
  const runs = r.runs.filter((x) => x.verdict !== 'skipped');
  const opt = (x, sel) => h('option', { value: x.id, selected: String(x.id) === String(sel) }, `#${x.id} ${x.experiment} · ${x.verdict} · ${new Date(x.created_ms).toLocaleString()}`);
  const form = h('form', { onsubmit: (ev) => {
    ev.preventDefault();
    navigate(`/compare?a=${form.elements.a.value}&b=${form.elements.b.value}`);
  } },
  h('label', { for: 'cmp-a' }, 'Run A (before)'), h('select', { id: 'cmp-a', name: 'a' }, runs.map((x) => opt(x, a))),
  h('label', { for: 'cmp-b' }, 'Run B (after)'), h('select', { id: 'cmp-b', name: 'b' }, runs.filter((x) => String(x.id) !== String(a)).map((x) => opt(x))),
  h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary', disabled: runs.length < 2 }, 'Compare')));
  clear(root, h('h1', {}, 'Compare two runs'), h('section', { class: 'card' },
    exp ? h('p', {}, `Finished runs of ${exp}.`) : h('p', { class: 'muted' }, 'Pick two finished runs of the same experiment.'),
    runs.length < 2 ? h('p', { class: 'muted' }, 'There are fewer than two finished runs to compare.') : null, form));
}
