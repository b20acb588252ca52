// The open recording's view state, shared by the timeline and the panels, and its change events.
// Times are relative to the recording's first event, in the node's native units.

export const S = {
  rid: null, summary: null, unit: 1e9,
  win: { since: 0, until: 0 },   // the visible window
  cursor: 0,                     // the current moment
  lanes: [],                     // lanes of the last density answer
  selected: [],                  // process keys picked for the sequence diagram
  focus: null,                   // the process whose state / calls are shown
  event: null,                   // the selected event id
  marks: [],                     // [{ts, proc, cls}] highlighted on the timeline
};

const listeners = {};
export function on(name, fn) { (listeners[name] ||= []).push(fn); }
export function emit(name, value) { for (const fn of listeners[name] || []) fn(value); }

export function setCursor(t, source = null) {
  S.cursor = Math.max(0, Math.round(t));
  emit('cursor', source);
}
export function setWindow(since, until) {
  const full = S.summary.until || 1;
  let a = Math.max(0, Math.floor(since)), b = Math.min(full, Math.ceil(until));
  if (b - a < 10) { const mid = (a + b) / 2; a = Math.max(0, Math.floor(mid - 5)); b = a + 10; }
  S.win = { since: a, until: b };
  emit('window');
}
export function setFocus(key) { S.focus = key; emit('focus'); }
export function toggleSelected(key) {
  S.selected = S.selected.includes(key) ? S.selected.filter(k => k !== key) : [...S.selected, key];
  emit('selected');
}
export function showEvent(id, ts = null, proc = null) {
  S.event = id;
  if (proc) S.focus = proc;
  if (ts !== null) { if (ts < S.win.since || ts > S.win.until) centerOn(ts); setCursor(ts, 'event'); }
  emit('event');
}
export function setMarks(marks) { S.marks = marks; emit('marks'); }
export function centerOn(ts) {
  const w = S.win.until - S.win.since;
  setWindow(ts - w / 2, ts + w / 2);
}
export function procLabel(key) {
  const lane = S.lanes.find(l => l.proc.key === key);
  if (lane) return lane.proc.label;
  const p = (S.summary.processes || []).find(p => p.key === key);
  return p ? p.label : key;
}
