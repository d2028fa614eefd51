// Schedules (/schedules and /schedules/NAME): the list with the next fire
// time, paused or active and the gates; pause/resume; a form to create or
// edit one whose cron field previews the next five fire times as the user
// types (GET /api/v1/cron/next, which names the field that is wrong), and
// the gates (error-budget query, command, previous run passed) as rows.
// The schedule's own page adds its next slots and its recent runs with the
// reasons of skipped ones (a closed gate says why).
import { get, post, api, can } from '../api.js';
import { h, clear, verdict, section, errorBox } from '../dom.js';
import { time, dur } from '../fmt.js';
import { navigate } from '../router.js';

const enc = encodeURIComponent;

export async function render(root, ctx) {
  if (ctx.params.name) return renderOne(root, ctx, ctx.params.name);
  const [r, xs] = await Promise.all([get('/api/v1/schedules', { signal: ctx.signal }),
    get('/api/v1/experiments', { signal: ctx.signal })]);
  const op = can('operator');
  const rows = r.schedules.map((s) => h('tr', { dataset: { schedule: s.name } },
    h('td', {}, h('a', { href: `/schedules/${enc(s.name)}` }, s.name)),
    h('td', {}, h('a', { href: `/experiments/${enc(s.experiment)}` }, s.experiment)),
    h('td', {}, h('code', {}, s.cron)),
    h('td', {}, s.paused ? '—' : time(s.fire_ms)),
    h('td', { class: 'state' }, stateBadge(s)),
    h('td', { class: 'hide-narrow' }, gatesText(s.gates)),
    op ? h('td', {}, pauseButton(s, () => render(root, ctx))) : null));
  clear(root, h('h1', {}, 'Schedules'),
    section('All schedules', rows.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'schedules' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Experiment'), h('th', {}, 'When (UTC)'),
        h('th', {}, 'Next run'), h('th', {}, 'State'), h('th', { class: 'hide-narrow' }, 'Gates'),
        op ? h('th', {}, h('span', { class: 'visually-hidden' }, 'Actions')) : null)),
      h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'No schedules yet.')),
    op ? h('section', { class: 'card', id: 'new', 'aria-labelledby': 'new-h' },
      h('h2', { id: 'new-h' }, 'New schedule'),
      scheduleForm(null, xs.experiments, ctx.query.get('experiment'))) : null);
}

function stateBadge(s) {
  return h('span', { class: `badge ${s.paused ? 'verdict-skipped' : 'verdict-passed'}` },
    s.paused ? 'paused' : 'active');
}

function gateText(g) {
  if (g.type === 'prometheus') {
    const b = [g.min !== undefined ? `≥ ${g.min}` : null, g.max !== undefined ? `≤ ${g.max}` : null]
      .filter(Boolean).join(' and ');
    return `Prometheus ${g.query} ${b}`;
  }
  if (g.type === 'command') return `command \`${g.command}\` exits 0`;
  if (g.type === 'previous_run_passed') return 'the previous run passed';
  return JSON.stringify(g);
}

function gatesText(gates) {
  return gates && gates.length ? gates.map(gateText).join('; ') : 'none';
}

function pauseButton(s, after) {
  const verb = s.paused ? 'resume' : 'pause';
  return h('button', { type: 'button', class: 'pause-resume', 'aria-label': `${verb} schedule ${s.name}`,
    onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await post(`/api/v1/schedules/${enc(s.name)}/${verb}`);
        await after();
      } catch (e) {
        ev.target.replaceWith(errorBox(e));
      }
    } }, s.paused ? 'Resume' : 'Pause');
}

async function renderOne(root, ctx, name) {
  const [s, next, runs, xs] = await Promise.all([
    get(`/api/v1/schedules/${enc(name)}`, { signal: ctx.signal }),
    get(`/api/v1/schedules/${enc(name)}/next?count=5`, { signal: ctx.signal }),
    get(`/api/v1/runs?schedule=${enc(name)}&limit=20`, { signal: ctx.signal }),
    get('/api/v1/experiments', { signal: ctx.signal }),
  ]);
  document.title = `faultline: schedule ${name}`;
  const op = can('operator');
  const again = () => renderOne(root, ctx, name);
  clear(root, h('h1', {}, `Schedule ${name} `, stateBadge(s)),
    h('div', { class: 'grid' },
      section('Schedule', h('dl', { class: 'facts' },
        h('dt', {}, 'Experiment'), h('dd', {}, h('a', { href: `/experiments/${enc(s.experiment)}` }, s.experiment)),
        h('dt', {}, 'When (UTC)'), h('dd', {}, h('code', {}, s.cron)),
        h('dt', {}, 'Jitter'), h('dd', {}, s.jitter_ms ? dur(s.jitter_ms) : 'none'),
        h('dt', {}, 'Concurrency'), h('dd', {}, s.concurrency),
        h('dt', {}, 'Catch-up'), h('dd', {}, s.catch_up),
        h('dt', {}, 'Keep'), h('dd', {}, `${s.keep} runs`),
        h('dt', {}, 'Gates'), h('dd', { id: 'gates' }, gatesText(s.gates)),
        h('dt', {}, 'Blackouts'), h('dd', {}, s.blackouts.length ? JSON.stringify(s.blackouts) : 'none'),
        h('dt', {}, 'Last fired'), h('dd', {}, time(s.last_fire_ms))),
      op ? h('div', { class: 'buttons' }, pauseButton(s, again)) : null),
      section('Next runs', s.paused ? h('p', { class: 'muted' }, 'Paused: nothing fires until it is resumed.') : null,
        h('ol', { id: 'next-times' }, next.next_ms.map((t) => h('li', {}, time(t)))),
        next.jitter_ms ? h('p', { class: 'hint' }, `each plus up to ${dur(next.jitter_ms)} of jitter`) : null)),
    section('Recent runs', runs.runs.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'schedule-runs' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Run'), h('th', {}, 'Started'), h('th', {}, 'Verdict'), h('th', {}, 'Reason'))),
      h('tbody', {}, runs.runs.map((r) => h('tr', {}, h('td', {}, h('a', { href: `/runs/${r.id}` }, r.id)),
        h('td', {}, time(r.created_ms)), h('td', {}, verdict(r.verdict)), h('td', {}, r.reason || ''))))))
      : h('p', { class: 'muted' }, 'No runs yet.')),
    op ? h('section', { class: 'card', id: 'edit', 'aria-labelledby': 'edit-h' },
      h('h2', { id: 'edit-h' }, 'Edit'), scheduleForm(s, xs.experiments)) : null);
}

// The live preview of a cron field: five fire times, or what is wrong.
function cronPreview(input) {
  const out = h('div', { id: 'cron-preview', 'aria-live': 'polite' });
  let timer = null, ctl = null;
  const update = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (ctl) ctl.abort();
      ctl = new AbortController();
      const expr = input.value.trim();
      if (!expr) { clear(out); return; }
      try {
        const r = await get(`/api/v1/cron/next?count=5&cron=${enc(expr)}`, { signal: ctl.signal });
        if (input.value.trim() !== expr) return;
        input.setCustomValidity('');
        clear(out, h('p', { class: 'hint' }, 'Next five fire times:'),
          h('ol', { class: 'preview-times' }, r.next_ms.map((t) => h('li', {}, time(t)))));
      } catch (e) {
        if (e.name === 'AbortError') return;
        input.setCustomValidity(e.message);
        clear(out, h('p', { class: 'error', id: 'cron-error' }, e.message));
      }
    }, 200);
  };
  input.addEventListener('input', update);
  update();
  return out;
}

const GATE_FIELDS = {
  previous_run_passed: [],
  command: [['command', 'Command (open when it exits 0)'], ['timeout', 'Timeout (e.g. 10s)']],
  prometheus: [['url', 'Prometheus URL'], ['query', 'Query'], ['min', 'Open when ≥ (min)'],
    ['max', 'Open when ≤ (max)']],
};

// One gate as a fieldset: its type and that type's fields.
function gateRow(g, list) {
  const type = h('select', { 'aria-label': 'gate type', class: 'gate-type' },
    Object.keys(GATE_FIELDS).map((t) => h('option', { value: t, selected: t === g.type }, t.replace(/_/g, ' '))));
  const fields = h('div', { class: 'row' });
  const row = h('fieldset', { class: 'gate' }, h('legend', {}, 'Gate'), type, fields,
    h('button', { type: 'button', class: 'link', onclick: () => row.remove() }, 'remove this gate'));
  const draw = () => clear(fields, GATE_FIELDS[type.value].map(([k, label]) => h('label', {}, label,
    h('input', { name: k, value: g[k] ?? '', required: k === 'command' || k === 'url' || k === 'query',
      inputmode: k === 'min' || k === 'max' ? 'decimal' : null }))));
  type.addEventListener('change', draw);
  draw();
  row.fl_value = () => {
    const out = { type: type.value };
    for (const inp of fields.querySelectorAll('input')) {
      if (inp.value === '') continue;
      out[inp.name] = inp.name === 'min' || inp.name === 'max' ? Number(inp.value) : inp.value;
    }
    return out;
  };
  list.append(row);
}

function select(id, options, value) {
  return h('select', { id }, options.map((o) => h('option', { value: o, selected: o === value }, o)));
}

function scheduleForm(s, experiments, preset) {
  const cur = s || { cron: '*/15 9-17 * * 1-5', concurrency: 'forbid', catch_up: 'once', keep: 50,
    gates: [], blackouts: [], experiment: preset, paused: false };
  const name = s ? null : h('input', { id: 'sched-name', required: true, autocomplete: 'off' });
  const exp = h('select', { id: 'sched-experiment', required: true },
    experiments.map((x) => h('option', { value: x.name, selected: x.name === cur.experiment }, x.name)));
  const cron = h('input', { id: 'sched-cron', required: true, value: cur.cron, autocomplete: 'off',
    'aria-describedby': 'cron-help' });
  const jitter = h('input', { id: 'sched-jitter', value: cur.jitter_ms ? `${cur.jitter_ms}ms` : '',
    placeholder: 'e.g. 2m' });
  const conc = select('sched-concurrency', ['forbid', 'allow', 'replace'], cur.concurrency);
  const catchUp = select('sched-catch-up', ['once', 'skip'], cur.catch_up);
  const keep = h('input', { id: 'sched-keep', type: 'number', min: '1', max: '100000', value: cur.keep });
  const paused = h('input', { id: 'sched-paused', type: 'checkbox', checked: cur.paused });
  const blackouts = h('textarea', { id: 'sched-blackouts', rows: '2' }, JSON.stringify(cur.blackouts));
  const gates = h('div', { id: 'gates-list' });
  cur.gates.forEach((g) => gateRow(g, gates));
  const status = h('p', { 'aria-live': 'polite', id: 'sched-status' });
  const form = h('form', { class: 'schedule-form', onsubmit: async (ev) => {
    ev.preventDefault();
    let bl;
    try { bl = JSON.parse(blackouts.value || '[]'); } catch (e) {
      clear(status, h('span', { class: 'error', role: 'alert' }, `blackouts: not JSON: ${e.message}`));
      return;
    }
    const body = { experiment: exp.value, cron: cron.value.trim(), concurrency: conc.value,
      catch_up: catchUp.value, keep: Number(keep.value), paused: paused.checked, blackouts: bl,
      gates: [...gates.children].map((g) => g.fl_value()) };
    if (jitter.value.trim()) body.jitter = jitter.value.trim();
    else if (s) body.jitter = null;
    try {
      const r = s ? await api('PATCH', `/api/v1/schedules/${enc(s.name)}`, body)
        : await post('/api/v1/schedules', { name: name.value, ...body });
      navigate(`/schedules/${enc(r.name)}`, !!s);
    } catch (e) {
      clear(status, errorBox(e));
    }
  } },
  name ? [h('label', { for: 'sched-name' }, 'Name'), name] : null,
  h('label', { for: 'sched-experiment' }, 'Experiment'), exp,
  h('label', { for: 'sched-cron' }, 'When'), cron,
  h('p', { class: 'hint', id: 'cron-help' }, 'Five fields in UTC (minute hour day month weekday), ',
    'an alias (@hourly, @daily…) or @every 10m.'),
  cronPreview(cron),
  h('div', { class: 'row' },
    h('div', {}, h('label', { for: 'sched-jitter' }, 'Jitter'), jitter),
    h('div', {}, h('label', { for: 'sched-concurrency' }, 'Concurrency'), conc),
    h('div', {}, h('label', { for: 'sched-catch-up' }, 'Catch-up'), catchUp),
    h('div', {}, h('label', { for: 'sched-keep' }, 'Keep runs'), keep)),
  h('label', { class: 'check' }, paused, ' paused'),
  h('h3', {}, 'Gates'), h('p', { class: 'hint' }, 'A closed gate skips the run (verdict skipped, with the reason).'),
  gates, h('button', { type: 'button', id: 'add-gate', onclick: () => gateRow({ type: 'prometheus' }, gates) },
    'Add a gate'),
  h('label', { for: 'sched-blackouts' }, 'Blackout windows (JSON: [{"cron": EXPR}, {"from": T, "to": T}])'),
  blackouts,
  h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, s ? 'Save changes' : 'Create schedule')),
  status);
  return form;
}
