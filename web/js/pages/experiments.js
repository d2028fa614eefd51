// Experiments (/experiments): the stored experiments with their run counts;
// operators can add one (a name and its YAML, validated on save with the
// errors at their lines, as on the experiment's own page).
import { get, post, can, ApiError } from '../api.js';
import { h, clear, section, errorBox } from '../dom.js';
import { time } from '../fmt.js';
import { navigate } from '../router.js';
import { yamlEditor } from '../yaml.js';

const enc = encodeURIComponent;
const TEMPLATE = `title: a new experiment
duration: 30s
targets:
  web:
    pidfile: /run/web.pid
steady_state:
  interval: 1s
  probes:
    - {name: up, type: http, url: 'http://127.0.0.1:8080/health'}
method:
  - {name: pause-web, kind: process.pause, target: web, start: 5s, duration: 10s}
`;

export async function render(root, ctx) {
  const r = await get('/api/v1/experiments', { signal: ctx.signal });
  const rows = r.experiments.map((x) => h('tr', {},
    h('td', {}, h('a', { href: `/experiments/${enc(x.name)}` }, x.name)), h('td', {}, x.title),
    h('td', { class: 'num' }, x.runs), h('td', { class: 'hide-narrow' }, time(x.updated_ms))));
  clear(root, h('h1', {}, 'Experiments'),
    section('Stored experiments', rows.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'experiments' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Title'), h('th', { class: 'num' }, 'Runs'),
        h('th', { class: 'hide-narrow' }, 'Updated'))),
      h('tbody', {}, rows))) : h('p', { class: 'muted' }, 'None yet.')),
    can('operator') ? newForm() : null);
}

function newForm() {
  const editor = yamlEditor({ value: TEMPLATE, label: 'YAML of the new experiment' });
  const name = h('input', { id: 'new-name', required: true, pattern: '[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,99}',
    autocomplete: 'off' });
  const status = h('p', { 'aria-live': 'polite' });
  const form = h('form', { id: 'new-experiment', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await post('/api/v1/experiments', { name: name.value, content: editor.value() });
      navigate(`/experiments/${enc(name.value)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        editor.setErrors(e.details || []);
        clear(status, h('span', { class: 'error', role: 'alert' }, 'not saved: ', e.message));
      } else {
        clear(status, errorBox(e));
      }
    }
  } }, h('label', { for: 'new-name' }, 'Name'), name,
  h('p', { class: 'hint' }, '1–100 letters, digits, "-", "_" or "."'),
  h('label', {}, 'YAML (docs/experiments.md)'), editor.el,
  h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Save new experiment')), status);
  return h('section', { class: 'card', id: 'new', 'aria-labelledby': 'new-h' },
    h('h2', { id: 'new-h' }, 'New experiment'), form);
}
