// Times in the viewer's timezone, with UTC on hover (the title attribute),
// and durations.
const local = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
});

export function utc(ms) {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

// A <time> element: local text, UTC title, machine-readable datetime.
export function time(ms) {
  const el = document.createElement('time');
  if (ms === null || ms === undefined) {
    el.textContent = '—';
    return el;
  }
  el.dateTime = new Date(ms).toISOString();
  el.title = 'UTC ' + utc(ms);
  el.textContent = local.format(new Date(ms));
  return el;
}

export function dur(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - 60 * m)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function pct(v) {
  return v === null || v === undefined ? '—' : `${Number(v).toFixed(2)} %`;
}

export function ago(ms, now = Date.now()) {
  const d = Math.max(0, now - ms);
  return dur(d) + ' ago';
}
