// Runs (/runs?experiment=&verdict=&state=&offset=): every run, newest
// first, filtered and paged by the URL's query (so a filtered list can be
// pasted too).
import { get } from '../api.js';
import { navigate } from '../router.js';
import { h, clear, verdict } from '../dom.js';
import { time, dur } from '../fmt.js';

const LIMIT = 50;
const FILTERS = ['experiment', 'verdict', 'state', 'schedule', 'trigger'];

export async function render(root, ctx) {
  const q = new URLSearchParams();
  for (const f of FILTERS) if (ctx.query.get(f)) q.set(f, ctx.query.get(f));
  const offset = Math.max(0, Number(ctx.query.get('offset')) || 0);
  const r = await get(`/api/v1/runs?${q}&limit=${LIMIT}&offset=${offset}`, { signal: ctx.signal });
  const form = h('form', { class: 'row', onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const f of FILTERS) { const v = form.elements[f].value.trim(); if (v) p.set(f, v); }
    navigate('/runs' + (p.toString() ? '?' + p : ''));
  } }, FILTERS.slice(0, 3).map((f) => h('label', {}, f, ' ',
    h('input', { name: f, value: ctx.query.get(f) || '', size: '14' }))),
  FILTERS.slice(3).map((f) => h('input', { type: 'hidden', name: f, value: ctx.query.get(f) || '' })),
  h('button', { type: 'submit' }, 'Filter'));
  const page = (o) => { const p = new URLSearchParams(q); if (o) p.set('offset', o); return '/runs?' + p; };
  clear(root, h('h1', {}, 'Runs'), h('section', { class: 'card' }, form,
    h('p', { class: 'muted' }, `${r.total} run(s)`, r.total > LIMIT ? `, ${offset + 1}–${Math.min(r.total, offset + LIMIT)} shown` : ''),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Run', 'Experiment', 'Verdict', 'Reason', 'Started', 'Took', 'Trigger']
        .map((x) => h('th', {}, x)))),
      h('tbody', {}, r.runs.map((x) => h('tr', { dataset: { run: x.id } },
        h('td', {}, h('a', { href: `/runs/${x.id}` }, `#${x.id}`)),
        h('td', {}, h('a', { href: `/runs?experiment=${encodeURIComponent(x.experiment)}` }, x.experiment)),
        h('td', {}, verdict(x.verdict)), h('td', {}, x.reason || ''), h('td', {}, time(x.created_ms)),
        h('td', { class: 'num' }, x.ended_ms ? dur(x.ended_ms - x.created_ms) : '…'),
        h('td', {}, x.schedule ? `schedule ${x.schedule}` : x.trigger)))))),
    h('div', { class: 'buttons' },
      offset > 0 ? h('a', { class: 'button', href: page(Math.max(0, offset - LIMIT)) }, 'Newer') : null,
      offset + LIMIT < r.total ? h('a', { class: 'button', href: page(offset + LIMIT) }, 'Older') : null)));
}
