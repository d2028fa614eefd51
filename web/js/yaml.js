// A YAML editor without a YAML parser: a plain <textarea> (so typing,
// selection, undo and the keyboard behave as everywhere) over a <pre> that
// colours the same text line by line (comments, keys, strings, numbers and
// booleans, list dashes), with a line-number gutter. Errors from the server
// (docs/api.md: details with line and column) mark their lines in the
// gutter and the text and are listed below as buttons that put the caret
// on the spot. A read-only editor (viewers) is the coloured <pre> alone.
import { h, clear } from './dom.js';

const KEY = /^(\s*)(- +)?((?:"[^"]*"|'[^']*'|[^\s#'"{}[\],:-][^#:{}[\],]*?)\s*:)(?=\s|$)/;
// strings, comments, keys inside flow mappings, booleans, numbers (with a unit), punctuation
const TOKEN = /("(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?)|(\s#.*$|^#.*$)|((?:^|(?<=[{,\s]))[A-Za-z_][\w.-]*:(?=\s))|(\b(?:true|false|null|yes|no)\b)|(-?\b\d+(?:\.\d+)?(?:ms|s|m|h|%)?\b)|([{}[\],])/g;

// The spans of one line of YAML.
function colour(line) {
  const out = [];
  let rest = line;
  const m = KEY.exec(line);
  if (m) {
    out.push(m[1]);
    if (m[2]) out.push(h('span', { class: 'y-dash' }, m[2]));
    out.push(h('span', { class: 'y-key' }, m[3]));
    rest = line.slice(m[0].length);
  } else {
    const d = /^(\s*)(- +)/.exec(line);
    if (d) {
      out.push(d[1], h('span', { class: 'y-dash' }, d[2]));
      rest = line.slice(d[0].length);
    }
  }
  let last = 0;
  TOKEN.lastIndex = 0;
  for (let t; (t = TOKEN.exec(rest));) {
    if (t[0] === '') { TOKEN.lastIndex++; continue; }
    out.push(rest.slice(last, t.index));
    const cls = t[1] ? 'y-str' : t[2] ? 'y-comment' : t[3] ? 'y-key' : t[4] ? 'y-bool' : t[5] ? 'y-num' : 'y-punct';
    out.push(h('span', { class: cls }, t[0]));
    last = t.index + t[0].length;
    if (t[2]) break;
  }
  out.push(rest.slice(last));
  return out;
}

// editor({value, readOnly, label}) -> {el, value(), setValue(v), setErrors(list), focus()}
export function yamlEditor(opts) {
  let errors = [];
  const gutter = h('div', { class: 'y-gutter', 'aria-hidden': 'true' });
  const code = h('code');
  const pre = h('pre', { class: 'y-pre', 'aria-hidden': opts.readOnly ? null : 'true' }, code);
  const ta = opts.readOnly ? null : h('textarea', {
    class: 'y-input', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off',
    'aria-label': opts.label || 'experiment YAML', wrap: 'off',
  });
  const list = h('ul', { class: 'y-errors', 'aria-live': 'polite' });
  const box = h('div', { class: 'y-editor' + (opts.readOnly ? ' y-readonly' : '') }, gutter,
    h('div', { class: 'y-area' }, pre, ta));
  const el = h('div', { class: 'y-wrap' }, box, list);
  let text = opts.value || '';

  function draw() {
    const lines = text.split('\n');
    const bad = new Map(errors.filter((e) => e.line).map((e) => [e.line, e]));
    clear(gutter, lines.map((_, i) => h('div', {
      class: bad.has(i + 1) ? 'y-ln y-bad' : 'y-ln', title: bad.has(i + 1) ? bad.get(i + 1).message : null,
      dataset: { line: String(i + 1) },
    }, String(i + 1))));
    clear(code, lines.map((l, i) => h('span', {
      class: bad.has(i + 1) ? 'y-line y-bad' : 'y-line', dataset: { line: String(i + 1) },
    }, colour(l), '\n')));
    if (ta) sync();
  }

  function sync() {
    pre.scrollTop = ta.scrollTop;
    pre.scrollLeft = ta.scrollLeft;
    gutter.scrollTop = ta.scrollTop;
  }

  // Put the caret at line:column (1-based) and scroll it into view.
  function goTo(line, column) {
    if (!ta) return;
    const lines = text.split('\n');
    let pos = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) pos += lines[i].length + 1;
    pos += Math.max(0, Math.min((column || 1) - 1, (lines[line - 1] || '').length));
    ta.focus();
    ta.setSelectionRange(pos, pos);
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (line - 3) * lh);
    sync();
  }

  if (ta) {
    ta.value = text;
    ta.addEventListener('input', () => {
      text = ta.value;
      draw();
      if (opts.onInput) opts.onInput(text);
    });
    ta.addEventListener('scroll', sync);
    // Tab indents (two spaces) instead of leaving the field; Escape then
    // Tab leaves it, so the keyboard is never trapped.
    let escaped = false;
    ta.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { escaped = true; return; }
      if (ev.key === 'Tab' && !ev.shiftKey && !escaped && !ev.ctrlKey && !ev.altKey) {
        ev.preventDefault();
        ta.setRangeText('  ', ta.selectionStart, ta.selectionEnd, 'end');
        ta.dispatchEvent(new Event('input'));
      }
      escaped = false;
    });
  }
  draw();
  return {
    el,
    value: () => text,
    setValue(v) {
      text = v;
      if (ta) ta.value = v;
      draw();
    },
    // list: [{line, column, message, text}] as the API's details
    setErrors(list2) {
      errors = list2 || [];
      draw();
      clear(list, errors.map((e) => h('li', {}, e.line
        ? h('button', { type: 'button', class: 'link', onclick: () => goTo(e.line, e.column) },
          `line ${e.line}, column ${e.column}`)
        : 'file', ': ', e.message)));
    },
    focus: () => ta && ta.focus(),
    goTo,
  };
}
