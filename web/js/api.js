// The console talks to the server only through its public API
// (/api/v1, docs/api.md), from the same origin. The bearer token is kept in
// localStorage; when the server answers 401 the token form opens and the
// request is retried with the new token. EventSource cannot send an
// Authorization header, so sse() reads the event stream with fetch.
const KEY = 'faultline.token';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = details; // e.g. an invalid experiment's errors with line and column
  }
}

export function token() {
  return localStorage.getItem(KEY) || '';
}

export function setToken(t) {
  if (t) localStorage.setItem(KEY, t);
  else localStorage.removeItem(KEY);
  me = null;
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

let asking = null;
let resolveAsk = null;

function dialogInit(dlg, form, input) {
  if (dlg.dataset.ready) return;
  dlg.dataset.ready = '1';
  form.addEventListener('submit', () => setToken(input.value.trim()));
  // closed by the button or by Escape: the caller retries (and asks again
  // at most a few times before it reports the 401)
  dlg.addEventListener('close', () => {
    const r = resolveAsk;
    asking = resolveAsk = null;
    if (r) r();
  });
}

// Open the token form; resolves when it closes (a token saved, or not).
export function askToken(why) {
  if (asking) return asking;
  const dlg = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  dialogInit(dlg, form, input);
  document.getElementById('token-why').textContent = why || 'This server needs a bearer token.';
  input.value = '';
  asking = new Promise((resolve) => { resolveAsk = resolve; });
  dlg.showModal();
  input.focus();
  return asking;
}

// One API call: the parsed JSON, or an ApiError with the server's message.
export async function api(method, path, body, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const init = { method, headers: headers(body ? { 'Content-Type': 'application/json' } : {}),
                   signal: opts.signal };
    if (body !== undefined) init.body = JSON.stringify(body);
    const r = await fetch(path, init);
    if (r.status === 401 && attempt < 3 && !opts.noAuthPrompt) {
      await askToken(token() ? 'The server refused this token; enter another.' : undefined);
      continue;
    }
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!r.ok) {
      const err = (json && json.error) || {};
      throw new ApiError(r.status, err.code, err.message || `${method} ${path}: HTTP ${r.status}`,
        err.details);
    }
    return json;
  }
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);

let me = null;
const RANK = { none: 0, viewer: 1, operator: 2, admin: 3 };

// Who the token is ({who, role, auth}); cached until the token changes.
export async function whoami() {
  if (!me) me = await get('/api/v1/whoami');
  return me;
}

// Whether the current role is at least `role` (call after whoami()).
export function can(role) {
  return !!me && RANK[me.role] >= RANK[role];
}

// Read a Server-Sent Events stream with the token; calls onEvent(type, data,
// id) per event (data parsed as JSON when it is JSON) and reconnects with
// Last-Event-ID after a dropped connection until the `end` event or the
// signal aborts. Resolves when the stream ends.
export async function sse(path, onEvent, signal) {
  let last = null;
  for (let tries = 0; !(signal && signal.aborted) && tries < 20; tries++) {
    try {
      const h = headers({ Accept: 'text/event-stream' });
      if (last !== null) h['Last-Event-ID'] = String(last);
      const r = await fetch(path, { headers: h, signal });
      if (r.status === 401) { await askToken(); continue; }
      if (!r.ok || !r.body) throw new ApiError(r.status, 'sse', `${path}: HTTP ${r.status}`);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = parseEvent(buf.slice(0, i));
          buf = buf.slice(i + 2);
          if (!ev) continue;
          if (ev.id !== null) last = ev.id;
          onEvent(ev.type, ev.data, ev.id);
          if (ev.type === 'end') return;
        }
      }
    } catch (e) {
      if (signal && signal.aborted) return;
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) throw e;
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

function parseEvent(block) {
  let type = 'message', data = '', id = null, any = false;
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') { data += (data ? '\n' : '') + value; any = true; }
    else if (field === 'id') id = Number(value);
  }
  if (!any) return null;
  try { data = JSON.parse(data); } catch (e) { /* plain text */ }
  return { type, data, id };
}
