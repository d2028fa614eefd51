// Bulletins (/bulletins, /bulletins/new, /bulletins/ID): known limits.
// The list filters by status and text (both in the URL, so a filtered view
// can be pasted); operators create one from a finished run (the server
// fills title and background from the run) or from scratch, and edit one;
// everyone can read its Markdown export and download it as a .md file.
import { get, post, api, can, token } from '../api.js';
import { h, clear, section, errorBox } from '../dom.js';
import { time } from '../fmt.js';
import { navigate } from '../router.js';

const STATUSES = ['open', 'mitigated', 'resolved'];

function statusBadge(s) {
  const cls = s === 'open' ? 'verdict-failed' : s === 'mitigated' ? 'verdict-aborted' : 'verdict-passed';
  return h('span', { class: `badge ${cls}` }, s);
}

function runLinks(runs) {
  return runs && runs.length ? runs.map((id, i) => [i ? ', ' : '', h('a', { href: `/runs/${id}` }, id)]) : '—';
}

export async function render(root, ctx) {
  if (ctx.params.id === 'new') return renderNew(root, ctx);
  if (ctx.params.id) return renderOne(root, ctx, ctx.params.id);
  const status = ctx.query.get('status') || '';
  const q = ctx.query.get('q') || '';
  const qs = new URLSearchParams();
  if (status) qs.set('status', status);
  if (q) qs.set('q', q);
  const r = await get(`/api/v1/bulletins?${qs}`, { signal: ctx.signal });
  const sel = h('select', { id: 'filter-status', name: 'status' }, h('option', { value: '' }, 'any'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)));
  const text = h('input', { id: 'filter-q', name: 'q', type: 'search', value: q });
  const filter = h('form', { class: 'row', role: 'search', id: 'bulletin-filter', onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (sel.value) p.set('status', sel.value);
    if (text.value) p.set('q', text.value);
    navigate(`/bulletins${p.toString() ? '?' + p : ''}`);
  } }, h('label', { for: 'filter-status' }, 'Status'), sel, h('label', { for: 'filter-q' }, 'Text'), text,
  h('button', { type: 'submit' }, 'Filter'));
  sel.addEventListener('change', () => filter.requestSubmit());
  const rows = r.bulletins.map((b) => h('tr', { dataset: { bulletin: String(b.id) } },
    h('td', {}, h('a', { href: `/bulletins/${b.id}` }, b.title)), h('td', {}, b.date),
    h('td', {}, statusBadge(b.status)), h('td', { class: 'hide-narrow' }, runLinks(b.runs))));
  clear(root, h('h1', {}, 'Bulletins'),
    h('p', { class: 'muted' }, 'Known limits: what was found, in which runs, and what to do about it.'),
    filter,
    can('operator') ? h('p', {}, h('a', { class: 'button', href: '/bulletins/new', id: 'new-bulletin' }, 'New bulletin')) : null,
    section(`${r.bulletins.length} bulletin${r.bulletins.length === 1 ? '' : 's'}`,
      rows.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'bulletins' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Title'), h('th', {}, 'Date'), h('th', {}, 'Status'),
          h('th', { class: 'hide-narrow' }, 'Runs'))),
        h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'None match.')));
}

// The fields of a bulletin as form inputs; fl_value() the JSON body.
function fields(b) {
  const f = {
    title: h('input', { id: 'b-title', value: b.title || '', required: !!b.id }),
    date: h('input', { id: 'b-date', value: b.date || '', placeholder: 'YYYY-MM-DD (default today)' }),
    status: h('select', { id: 'b-status' }, STATUSES.map((s) => h('option', { value: s, selected: s === (b.status || 'open') }, s))),
    background: h('textarea', { id: 'b-background', rows: '4' }, b.background || ''),
    recommendations: h('textarea', { id: 'b-recommendations', rows: '3' }, b.recommendations || ''),
    initiatives: h('textarea', { id: 'b-initiatives', rows: '3' }, b.initiatives || ''),
    runs: h('input', { id: 'b-runs', value: (b.runs || []).join(', '), inputmode: 'numeric',
      placeholder: 'run ids, comma-separated' }),
  };
  const label = { title: 'Title', date: 'Date', status: 'Status', background: 'Background (what was found, where and when)',
    recommendations: 'Recommendations', initiatives: 'Ongoing initiatives', runs: 'Runs that showed it' };
  const el = Object.entries(f).map(([k, input]) => [h('label', { for: input.id }, label[k]), input]);
  const value = (skipEmpty) => {
    const out = {};
    for (const [k, input] of Object.entries(f)) {
      const v = input.value.trim();
      if (skipEmpty && !v) continue;
      out[k] = k === 'runs' ? v.split(/[\s,]+/).filter(Boolean).map(Number) : v;
    }
    if (!skipEmpty && !out.date) delete out.date;
    return out;
  };
  return { el, value };
}

async function renderNew(root, ctx) {
  const run = ctx.query.get('run') || '';
  const runInput = h('input', { id: 'from-run', value: run, inputmode: 'numeric', autocomplete: 'off' });
  const st1 = h('p', { 'aria-live': 'polite' });
  const fromRun = h('form', { id: 'bulletin-from-run', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const b = await post(`/api/v1/runs/${encodeURIComponent(runInput.value.trim())}/bulletin`, {});
      navigate(`/bulletins/${b.id}`);
    } catch (e) { clear(st1, errorBox(e)); }
  } }, h('label', { for: 'from-run' }, 'Run id'), runInput,
  h('p', { class: 'hint' }, 'The title and background come from the run\'s verdict and reason; edit them after.'),
  h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Create from this run')), st1);
  const f = fields({});
  const st2 = h('p', { 'aria-live': 'polite' });
  const scratch = h('form', { id: 'bulletin-new', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const b = await post('/api/v1/bulletins', f.value(true));
      navigate(`/bulletins/${b.id}`);
    } catch (e) { clear(st2, errorBox(e)); }
  } }, f.el, h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Create')), st2);
  clear(root, h('h1', {}, 'New bulletin'),
    h('div', { class: 'grid' }, section('From a run', fromRun), section('From scratch', scratch)));
  if (run) runInput.focus();
}

// The Markdown export, read with the token (a plain link could not send it).
async function markdown(id, signal) {
  const hd = { Accept: 'text/markdown' };
  if (token()) hd.Authorization = 'Bearer ' + token();
  const r = await fetch(`/api/v1/bulletins/${id}/markdown`, { headers: hd, signal });
  if (!r.ok) throw new Error(`Markdown export: HTTP ${r.status}`);
  return r.text();
}

async function renderOne(root, ctx, id) {
  const b = await get(`/api/v1/bulletins/${encodeURIComponent(id)}`, { signal: ctx.signal });
  document.title = `faultline: bulletin ${b.id}`;
  const md = h('pre', { class: 'log', id: 'markdown', tabindex: '0', 'aria-label': 'Markdown export', hidden: true });
  const dl = h('a', { class: 'button', id: 'download-md', hidden: true, download: `bulletin-${b.id}.md` }, 'Download .md');
  ctx.onCleanup(() => dl.href && URL.revokeObjectURL(dl.href));
  const exportBtn = h('button', { type: 'button', id: 'export-md', onclick: async () => {
    try {
      const text = await markdown(b.id, ctx.signal);
      md.textContent = text;
      md.hidden = false;
      if (dl.href) URL.revokeObjectURL(dl.href);
      dl.href = URL.createObjectURL(new Blob([text], { type: 'text/markdown' }));
      dl.hidden = false;
      md.focus();
    } catch (e) { md.replaceWith(errorBox(e)); }
  } }, 'Export as Markdown');
  const view = section('Bulletin', h('dl', { class: 'facts' },
    h('dt', {}, 'Date'), h('dd', {}, b.date),
    h('dt', {}, 'Status'), h('dd', { id: 'b-status-view' }, statusBadge(b.status)),
    h('dt', {}, 'Runs'), h('dd', {}, runLinks(b.runs)),
    h('dt', {}, 'Background'), h('dd', { class: 'prewrap' }, b.background || '—'),
    h('dt', {}, 'Recommendations'), h('dd', { class: 'prewrap' }, b.recommendations || '—'),
    h('dt', {}, 'Initiatives'), h('dd', { class: 'prewrap' }, b.initiatives || '—'),
    h('dt', {}, 'Updated'), h('dd', {}, time(b.updated_ms))),
  h('div', { class: 'buttons' }, exportBtn, dl), md);
  let edit = null;
  if (can('operator')) {
    const f = fields(b);
    const st = h('p', { 'aria-live': 'polite' });
    edit = section('Edit', h('form', { id: 'bulletin-edit', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('PATCH', `/api/v1/bulletins/${b.id}`, f.value(false));
        navigate(`/bulletins/${b.id}`, true);
      } catch (e) { clear(st, errorBox(e)); }
    } }, f.el, h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('button', { type: 'button', class: 'danger', id: 'delete-bulletin', onclick: async () => {
        if (!confirm(`Remove bulletin ${b.id}?`)) return;
        try {
          await api('DELETE', `/api/v1/bulletins/${b.id}`);
          navigate('/bulletins');
        } catch (e) { clear(st, errorBox(e)); }
      } }, 'Remove')), st));
  }
  clear(root, h('h1', {}, b.title), h('p', {}, h('a', { href: '/bulletins' }, '← all bulletins')),
    h('div', { class: 'grid' }, view, edit));
}
