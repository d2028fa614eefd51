// Probe charts with uPlot (bundled from npm, see web/meson.build): latency
// as a min–max band with the mean line, failed samples as red points, the
// tolerance's latency bound as a dashed line, fault windows shaded under
// the series and marks (guardrail trips, detection, recovery) as labelled
// vertical lines. The x axis is seconds from the run's start.
//
// The container gets data-* attributes describing the plot area and the
// x scale (plot-left, plot-width, plot-top, plot-height in CSS pixels,
// x-min/x-max in seconds) so tests can find where a time is drawn.
/* global uPlot */

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// One uPlot table [x, mean, min, max, failY] in seconds from a series
// document of GET /api/v1/runs/ID/series (shift: ms to subtract from t).
export function table(sr, shift = 0) {
  const x = sr.t.map((t) => (t - shift) / 1000);
  const fail = sr.fail.map((f, i) => (f > 0 ? (sr.max[i] ?? sr.mean[i] ?? 0) : null));
  return [x, sr.mean, sr.min, sr.max, fail];
}

function seriesOpts(label, color, band) {
  return [
    { label: `${label} mean ms`, stroke: color, width: 1.5, spanGaps: false,
      value: (u, v) => (v === null || v === undefined ? '—' : v.toFixed(1)) },
    { label: `${label} min`, stroke: band, width: 0, points: { show: false } },
    { label: `${label} max`, stroke: band, width: 0, points: { show: false } },
    { label: `${label} failed`, stroke: css('--bad'), fill: css('--bad'), width: 0,
      paths: () => null, points: { show: true, size: 7, width: 1, fill: css('--bad') } },
  ];
}

function drawWindows(u, windows) {
  const { ctx } = u;
  const { top, height, left, width } = u.bbox;
  ctx.save();
  for (const w of windows) {
    let x0 = u.valToPos(w.start / 1000, 'x', true);
    let x1 = u.valToPos(w.end / 1000, 'x', true);
    x0 = Math.max(left, Math.min(left + width, x0));
    x1 = Math.max(left, Math.min(left + width, x1));
    if (x1 <= x0) continue;
    ctx.fillStyle = w.fill || css('--fault');
    ctx.fillRect(x0, top, x1 - x0, height);
    ctx.fillStyle = w.edge || css('--fault-edge');
    ctx.fillRect(x0, top, Math.max(1, devicePixelRatio), height);
  }
  ctx.restore();
}

function drawMarks(u, marks, bound) {
  const { ctx } = u;
  const { top, height, left, width } = u.bbox;
  const px = devicePixelRatio || 1;
  ctx.save();
  ctx.font = `${11 * px}px system-ui, sans-serif`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  ctx.setLineDash([4 * px, 3 * px]);
  if (bound !== null && bound !== undefined) {
    const y = u.valToPos(bound, 'y', true);
    if (y >= top && y <= top + height) {
      ctx.strokeStyle = css('--bad');
      ctx.lineWidth = px;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      ctx.fillStyle = css('--bad');
      ctx.fillText(`tolerance ${bound} ms`, left + 4 * px, y - 4 * px);
    }
  }
  marks.forEach((m, i) => {
    const x = u.valToPos(m.t / 1000, 'x', true);
    if (x < left || x > left + width) return;
    ctx.strokeStyle = m.color || css('--fg');
    ctx.lineWidth = px;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.fillStyle = m.color || css('--fg');
    // the label right of its line, or left of it when it would leave the plot
    const w = ctx.measureText(m.label).width;
    const tx = x + 3 * px + w <= left + width ? x + 3 * px : Math.max(left, x - 3 * px - w);
    ctx.fillText(m.label, tx, top + (12 + 13 * (i % 3)) * px);
  });
  ctx.restore();
}

// Draw a chart into el. opts: {tables: [[x, mean, min, max, fail]...],
// labels, xRange: [s, s], windows: [{start, end, fill, edge}] (ms), marks:
// [{t (ms), label, color}], bound (ms or null), height}. Returns the uPlot.
export function probeChart(el, opts) {
  const colors = [[css('--series'), css('--band')], [css('--series-b'), css('--band-b')]];
  const data = opts.tables.length === 1 ? opts.tables[0] : uPlot.join(opts.tables);
  const series = [{ label: 's', value: (u, v) => (v === null ? '—' : `${v.toFixed(2)} s`) }];
  const bands = [];
  opts.tables.forEach((t, i) => {
    const [color, band] = colors[i % 2];
    const base = 1 + 4 * i;
    series.push(...seriesOpts(opts.labels[i], color, band));
    bands.push({ series: [base + 2, base + 1], fill: band });
  });
  const width = Math.max(280, el.clientWidth || 600);
  const u = new uPlot({
    width,
    height: opts.height || 220,
    series,
    bands,
    cursor: { drag: { x: true, y: false } },
    scales: {
      x: { time: false, range: opts.xRange ? () => opts.xRange : undefined },
      y: { range: (u2, min, max) => [0, Math.max(max || 1, (opts.bound || 0) * 1.15, 1)] },
    },
    axes: [
      { label: opts.xLabel || 'seconds from the run start', stroke: css('--muted'), grid: { stroke: css('--grid') },
        ticks: { stroke: css('--grid') } },
      { label: 'latency ms', stroke: css('--muted'), grid: { stroke: css('--grid') },
        ticks: { stroke: css('--grid') } },
    ],
    hooks: {
      drawClear: [(uu) => drawWindows(uu, opts.windows || [])],
      draw: [(uu) => {
        drawMarks(uu, opts.marks || [], opts.bound);
        describe(el, uu);
        el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1);
      }],
    },
  }, data, el);
  const ro = new ResizeObserver(() => {
    const w = Math.max(280, el.clientWidth);
    if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
  });
  ro.observe(el);
  u.fl_disconnect = () => { ro.disconnect(); u.destroy(); };
  u.fl_opts = opts; // windows, marks and xRange are read at each draw: change them, then setData
  return u;
}

function describe(el, u) {
  const px = devicePixelRatio || 1;
  el.dataset.plotLeft = String(u.bbox.left / px);
  el.dataset.plotTop = String(u.bbox.top / px);
  el.dataset.plotWidth = String(u.bbox.width / px);
  el.dataset.plotHeight = String(u.bbox.height / px);
  el.dataset.xMin = String(u.scales.x.min);
  el.dataset.xMax = String(u.scales.x.max);
}
