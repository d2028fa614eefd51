// A run's timeline from its events (the lines `faultline run` prints, as
// the history store keeps them: {t_ms, phase, message}): the phases, each
// fault's window (from "NAME ID applied for ..." to "NAME ID reverted" /
// "was reverted by"), guardrail trips and recoveries. The message shapes
// are those of src/engine/engine.c.
const APPLIED = /^(\S+) (\S+) applied for [\d.]+s \(([^)]+)\)/;
const REVERTED = /^(\S+) (\S+) (?:reverted \(|was reverted by )/;
const GUARD = /^guardrail (\S+) tripped: probe (\S+)/;
const RECOVERED = /^probe (\S+) recovered ([\d.]+)s after the last revert/;

export function timeline(events, endMs) {
  const phases = [], faults = [], guards = [], recovered = [];
  const open = new Map();
  let inject = null, lastRevert = null;
  for (const ev of events || []) {
    const t = ev.t_ms;
    const last = phases[phases.length - 1];
    if (!last || last.name !== ev.phase) {
      if (last) last.end = t;
      phases.push({ name: ev.phase, start: t, end: null });
    }
    if (ev.phase === 'inject' && inject === null) inject = t;
    let m;
    if ((m = APPLIED.exec(ev.message))) {
      const f = { name: m[1], id: m[2], kind: m[3], start: t, end: null };
      open.set(m[2], f);
      faults.push(f);
    } else if ((m = REVERTED.exec(ev.message))) {
      const f = open.get(m[2]);
      if (f) { f.end = t; open.delete(m[2]); }
      lastRevert = t;
    } else if ((m = GUARD.exec(ev.message))) {
      guards.push({ t, name: m[1], probe: m[2] });
    } else if ((m = RECOVERED.exec(ev.message))) {
      recovered.push({ t, probe: m[1], after_ms: Math.round(Number(m[2]) * 1000) });
    }
  }
  const end = endMs !== undefined && endMs !== null ? endMs
    : (events && events.length ? events[events.length - 1].t_ms : 0);
  if (phases.length) phases[phases.length - 1].end = end;
  for (const f of faults) if (f.end === null) f.end = end; // still active (a live run)
  return { phases, faults, guards, recovered, inject, lastRevert, end };
}

// The latency bound of a tolerance as the store describes it
// ("success ratio >= 99%, p99 latency <= 50ms"), or null.
export function latencyBound(tolerance) {
  const m = /latency <= ([\d.e+-]+)ms/.exec(tolerance || '');
  return m ? Number(m[1]) : null;
}
