// Run page (/runs/ID): verdict and reason, the phases, one chart per probe
// with the fault windows shaded, marks for guardrail trips, detection and
// recovery, the workload's checks, the events. A running run follows its
// events over SSE and redraws its charts without a reload.
import { get, post, sse, can, token, ApiError } from '../api.js';
import { h, clear, verdict, section, errorBox } from '../dom.js';
import { time, dur, pct } from '../fmt.js';
import { timeline, latencyBound } from '../timeline.js';
import { probeChart, table } from '../charts.js';

const INJECTING = /^injecting: \d+ step\(s\) over ([\d.]+)s/;

export async function render(root, ctx) {
  const id = ctx.params.id;
  const raw = ctx.query.get('raw') === '1';
  const st = { id, raw, root, ctx, charts: [], events: [], run: null, refreshing: false };
  ctx.onCleanup(() => st.charts.forEach((u) => u.fl_disconnect()));
  // the series (the slow part of a large run) is asked for at once, with the
  // width the charts will have (main's width less the card's padding)
  const first = fetchSeries(st, Math.max(280, Math.round(root.clientWidth - 30)));
  first.catch(() => null);
  const r = await get(`/api/v1/runs/${encodeURIComponent(id)}`, { signal: ctx.signal });
  st.run = r;
  // a running run's events all come over SSE (it replays them from the first)
  st.events = r.state === 'running' ? [] : (r.run && r.run.events) || [];
  document.title = `faultline: run ${r.id} · ${r.experiment}`;
  clear(root,
    h('h1', {}, `Run ${r.id} · `, h('a', { href: `/experiments/${encodeURIComponent(r.experiment)}` },
      r.experiment), ' ', st.badge = h('span', {}, verdict(r.verdict))),
    st.head = h('div', { class: 'grid' }),
    st.phases = section('Timeline'),
    st.chartsBox = section('Probes', h('p', { class: 'hint' },
      h('span', { class: 'legend-fault' }), ' fault windows · band: min–max latency per pixel, line: mean · ',
      h('span', { class: 'verdict-failed' }, '●'), ' failed samples · dashed: tolerance and marks')),
    st.workload = h('div'),
    st.eventsBox = section('Events'));
  root.dataset.runState = r.state;
  drawHead(st);
  drawTimeline(st);
  drawEvents(st);
  drawWorkload(st);
  await drawCharts(st, first);
  if (r.state === 'running') follow(st);
}

// ms since a running run's start (its faults are on until now); undefined when done.
function liveEnd(st) {
  if (st.run.state !== 'running') return undefined;
  const started = (st.run.run && st.run.run.started_ms) || st.run.created_ms;
  const last = st.events.length ? st.events[st.events.length - 1].t_ms : 0;
  return Math.max(last, Date.now() - started);
}

function drawHead(st) {
  const r = st.run, run = r.run || {};
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'State'), h('dd', { id: 'run-state' }, r.state),
    h('dt', {}, 'Started'), h('dd', {}, time(r.created_ms)),
    h('dt', {}, 'Ended'), h('dd', {}, r.ended_ms ? time(r.ended_ms) : '—'),
    h('dt', {}, 'Duration'), h('dd', {}, run.duration_ms !== undefined ? dur(run.duration_ms) : '—'),
    h('dt', {}, 'Trigger'), h('dd', {}, r.trigger + (r.schedule ? ` (schedule ${r.schedule})` : '') +
      (r.who ? ` by ${r.who}` : '')),
    h('dt', {}, 'History run'), h('dd', {}, r.history_run ?? '—'),
    h('dt', {}, 'Seed'), h('dd', {}, run.seed ?? '—'));
  const buttons = h('div', { class: 'buttons' },
    h('a', { class: 'button', href: `/compare?a=${r.id}` }, 'Compare with another run'));
  if (r.state === 'running' && can('operator')) {
    buttons.append(h('button', { class: 'danger', type: 'button', id: 'abort', onclick: async (ev) => {
      ev.target.disabled = true;
      try { await post(`/api/v1/runs/${r.id}/abort`); } catch (e) { alert(e.message); }
    } }, 'Abort (revert every fault)'));
  }
  st.progress = h('div', { class: 'progress', role: 'progressbar', 'aria-label': 'run progress',
    'aria-valuemin': '0', 'aria-valuemax': '100' }, h('div', { style: 'width:0%' }));
  st.status = h('p', { id: 'run-status', class: 'muted', 'aria-live': 'polite' });
  clear(st.head,
    h('section', { class: 'card' }, h('h2', {}, 'Verdict'),
      h('p', { id: 'verdict' }, verdict(r.verdict)),
      h('p', { id: 'reason' }, r.reason || run.explanation || (r.state === 'running' ? 'running…' : '—')),
      r.state === 'running' ? [st.status, st.progress] : null, buttons),
    h('section', { class: 'card' }, h('h2', {}, 'Run'), facts));
  updateProgress(st);
}

function updateProgress(st) {
  if (!st.progress) return;
  const tl = timeline(st.events);
  const last = st.events.length ? st.events[st.events.length - 1] : null;
  const started = st.run.run && st.run.run.started_ms;
  const now = started ? Math.max(Date.now() - started, last ? last.t_ms : 0) : (last ? last.t_ms : 0);
  let frac = 0;
  const inj = st.events.map((e) => INJECTING.exec(e.message)).find(Boolean);
  if (tl.inject !== null && inj) frac = Math.min(1, (now - tl.inject) / (Number(inj[1]) * 1000));
  if (last && ['revert', 'judge', 'recover', 'rollback', 'workload', 'check'].includes(last.phase)) frac = 1;
  const p = Math.round(frac * 100);
  st.progress.firstChild.style.width = p + '%';
  st.progress.setAttribute('aria-valuenow', String(p));
  st.root.dataset.progress = String(p);
  st.root.dataset.events = String(st.events.length);
  if (st.status) {
    st.status.textContent = `${last ? last.phase : 'starting'} · ${dur(now)} since the start · ` +
      `${st.events.length} events`;
  }
}

function drawTimeline(st) {
  const tl = timeline(st.events, liveEnd(st));
  const first = tl.phases.length ? tl.phases[0].start : 0;
  const total = Math.max(1, tl.end - first);
  const bar = h('div', { class: 'phases', role: 'img', 'aria-label': 'phases of the run' },
    tl.phases.map((p) => h('div', {
      class: `phase-${p.name}`, title: `${p.name}: ${dur(p.start)} – ${dur(p.end)}`,
      style: `width: ${(100 * Math.max(0.002, (p.end - p.start) / total)).toFixed(2)}%`,
    }, p.name)));
  const faults = tl.faults.length ? h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Fault'), h('th', {}, 'Kind'), h('th', { class: 'num' }, 'From'),
      h('th', { class: 'num' }, 'To'))),
    h('tbody', {}, tl.faults.map((f) => h('tr', {}, h('td', {}, `${f.name} (${f.id})`), h('td', {}, f.kind),
      h('td', { class: 'num' }, dur(f.start)), h('td', { class: 'num' }, dur(f.end))))))) :
    h('p', { class: 'muted' }, 'No fault window recorded yet.');
  clear(st.phases, h('h2', {}, 'Timeline'), bar, faults);
}

function drawEvents(st) {
  clear(st.eventsBox, h('h2', {}, `Events (${st.events.length})`),
    h('div', { class: 'events', tabindex: '0', 'aria-label': 'events of the run' },
      h('table', {}, h('tbody', { id: 'events' }, st.events.map(eventRow)))),
    st.run.log ? h('details', {}, h('summary', {}, 'Output of the run process'),
      h('pre', { class: 'log' }, st.run.log)) : null);
}

function eventRow(ev) {
  return h('tr', {}, h('td', { class: 't' }, `+${(ev.t_ms / 1000).toFixed(3)}s`),
    h('td', { class: 'ph' }, ev.phase), h('td', {}, ev.message));
}

function drawWorkload(st) {
  const run = st.run.run;
  if (!run || (!run.history && !(run.checks || []).length)) return clear(st.workload);
  const hist = run.history;
  clear(st.workload, section('Workload and consistency check',
    hist ? h('p', {}, `${hist.client} ${hist.workload}: ${hist.operations} operations recorded ` +
      `(${hist.bytes} bytes of history).`) : null,
    (run.checks || []).map((c, i) => h('div', { class: 'check', dataset: { check: i } },
      h('p', {}, h('strong', {}, c.model), ': ', verdict(c.result === 'valid' ? 'passed' :
        c.result === 'invalid' ? 'failed' : c.result), ` ${c.result}`),
      c.output ? h('pre', { class: 'log' }, c.output) : null,
      hist ? reportButton(st, i) : null))));
}

// The check's HTML timeline (GET .../check.html, which needs the token, so it
// is fetched and shown in a sandboxed frame, with a link to save it).
function reportButton(st, i) {
  const box = h('div', { class: 'report' });
  const btn = h('button', { type: 'button', class: 'show-report', onclick: async () => {
    btn.disabled = true;
    btn.textContent = 'Checking the history…';
    try {
      const r = await fetch(`/api/v1/runs/${st.run.id}/check.html?check=${i}`,
        { headers: token() ? { Authorization: 'Bearer ' + token() } : {}, signal: st.ctx.signal });
      const html = await r.text();
      if (!r.ok) throw new Error(`HTTP ${r.status}: ${html.slice(0, 300)}`);
      const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
      st.ctx.onCleanup(() => URL.revokeObjectURL(url));
      clear(box, h('p', {}, h('a', { href: url, download: `run-${st.run.id}-check-${i}.html` },
        'Save the report')),
      h('iframe', { class: 'report-frame', sandbox: '', srcdoc: html, title: 'the check\'s HTML timeline' }));
      btn.remove();
    } catch (e) {
      btn.disabled = false;
      btn.textContent = 'Show the HTML timeline of the check';
      clear(box, errorBox(e));
    }
  } }, 'Show the HTML timeline of the check');
  return h('div', {}, btn, box);
}

function marksFor(p, tl) {
  const marks = [];
  for (const g of tl.guards) {
    marks.push({ t: g.t, label: `guardrail ${g.name} fired`, color: 'var(--bad)' });
  }
  if (p.time_to_detect_ms !== null && p.time_to_detect_ms !== undefined && tl.inject !== null) {
    marks.push({ t: tl.inject + p.time_to_detect_ms, label: `detected after ${dur(p.time_to_detect_ms)}` });
  }
  if (p.time_to_recover_ms !== null && p.time_to_recover_ms !== undefined && tl.lastRevert !== null) {
    marks.push({ t: tl.lastRevert + p.time_to_recover_ms,
      label: `recovered ${dur(p.time_to_recover_ms)} after the revert` });
  }
  return marks.map((m) => ({ ...m, color: m.color && m.color.startsWith('var(') ?
    getComputedStyle(document.documentElement).getPropertyValue(m.color.slice(4, -1)).trim() : m.color }));
}

function fetchSeries(st, width) {
  const q = st.raw ? 'width=0' : `width=${width}`;
  return get(`/api/v1/runs/${encodeURIComponent(st.id)}/series?${q}`, { signal: st.ctx.signal });
}

// Draw (again) every probe's chart; `pending` is a series request already made.
async function drawCharts(st, pending) {
  let sr;
  try {
    sr = await (pending || fetchSeries(st, Math.max(280, Math.round(st.chartsBox.clientWidth - 30))));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    st.chartsBox.append(errorBox(e));
    return;
  }
  const tl = timeline(st.events, liveEnd(st));
  const end = Math.max(sr.to, tl.end);
  const windows = tl.faults.map((f) => ({ start: f.start, end: f.end }));
  const notes = (p) => `${p.samples} samples in ${p.series.t.length} points · ` +
    `availability ${pct(p.availability)} · tolerance: ${p.tolerance || '—'}` +
    (p.time_to_detect_ms !== null && p.time_to_detect_ms !== undefined ? ` · time to detect ${dur(p.time_to_detect_ms)}` : '') +
    (p.time_to_recover_ms !== null && p.time_to_recover_ms !== undefined ? ` · time to recover ${dur(p.time_to_recover_ms)}` : '');
  const xRange = [0, Math.max(1, end) / 1000];
  // a live run's new samples: the same charts take the new data (no flicker)
  if (st.charts.length && st.charts.length === sr.probes.length &&
      sr.probes.every((p, i) => st.charts[i].fl_probe === p.name)) {
    sr.probes.forEach((p, i) => {
      const u = st.charts[i];
      Object.assign(u.fl_opts, { xRange, windows, marks: marksFor(p, tl) });
      const box = st.chartsBox.querySelectorAll('.chart')[i];
      box.dataset.windows = JSON.stringify(windows);
      box.querySelector('.notes').textContent = notes(p);
      u.setData(table(p.series));
    });
    st.root.dataset.chartsDrawn = String(Number(st.root.dataset.chartsDrawn || 0) + 1);
    return;
  }
  st.charts.forEach((u) => u.fl_disconnect());
  st.charts = [];
  st.chartsBox.querySelectorAll('.chart, .empty').forEach((n) => n.remove());
  if (!sr.probes.length) {
    st.chartsBox.append(h('p', { class: 'muted empty' }, 'No probe samples yet.'));
  }
  for (const p of sr.probes) {
    const box = h('div', { class: 'chart', dataset: { probe: p.name, windows: JSON.stringify(windows) } });
    const div = h('div', { class: 'plot' });
    box.append(h('h3', {}, `${p.name} `, h('span', { class: 'muted' }, `(${p.kind}, ${p.role})`)),
      h('p', { class: 'notes' }, notes(p)), div);
    st.chartsBox.append(box);
    const u = probeChart(div, {
      tables: [table(p.series)], labels: [p.name], xRange, windows, marks: marksFor(p, tl),
      bound: latencyBound(p.tolerance),
    });
    u.fl_probe = p.name;
    st.charts.push(u);
  }
  st.root.dataset.chartsDrawn = String(Number(st.root.dataset.chartsDrawn || 0) + 1);
  if (st.root.dataset.chartsDrawn === '1') {
    // bench/dashboard: the charts are on screen after the next frame
    requestAnimationFrame(() => setTimeout(() => performance.mark('fl:charts-drawn'), 0));
  }
}

// Live: events over SSE; the charts are fetched again every 2 s (samples
// arrive without events while a fault is on).
function follow(st) {
  let busy = false;
  const redraw = async () => {
    if (busy || st.ctx.signal.aborted) return;
    busy = true;
    try { await drawCharts(st); } catch (e) { if (!st.ctx.signal.aborted) console.warn(e); }
    busy = false;
  };
  const tick = setInterval(() => updateProgress(st), 500);
  const timer = setInterval(() => drawTimeline(st), 2000);
  st.ctx.onCleanup(() => clearInterval(timer));
  const charts = setInterval(redraw, 2000);
  st.ctx.onCleanup(() => { clearInterval(tick); clearInterval(charts); });
  sse(`/api/v1/runs/${st.id}/events`, async (type, data) => {
    if (type === 'event') {
      if (st.events.length && data.seq && st.events.some((e) => e.seq === data.seq)) return;
      st.events.push(data);
      const body = st.root.querySelector('#events');
      if (body) body.append(eventRow(data));
      st.eventsBox.querySelector('h2').textContent = `Events (${st.events.length})`;
      drawTimeline(st);
      updateProgress(st);
    } else if (type === 'end') {
      clearInterval(tick);
      clearInterval(charts);
      clearInterval(timer);
      // the run is done: draw it as a finished run
      const { render: again } = await import('./run.js');
      if (!st.ctx.signal.aborted) {
        st.charts.forEach((u) => u.fl_disconnect());
        st.charts = [];
        await again(st.root, st.ctx);
      }
    }
  }, st.ctx.signal).catch((e) => { if (!st.ctx.signal.aborted) st.status.textContent = e.message; });
}
