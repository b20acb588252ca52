// The selected event: what it was, its payload as a term tree, its matched send/receive, and
// buttons that highlight its causal past or future on the timeline and in the sequence diagram.

import { el, fmtTime, get, showError, fill } from './api.js';
import { S, emit, on, procLabel, setMarks } from './state.js';
import { termView } from './termtree.js';
import { evLink } from './moment.js';

let box;
export const causal = { past: new Set(), future: new Set() };

export function mountEvent(container) {
  box = el('div', { class: 'box', id: 'event-box' }, el('p', { class: 'muted' }, 'Select an event: a message arrow, a query result, a link.'));
  container.append(box);
  on('event', refresh);
}

async function refresh() {
  if (!S.event) return;
  try {
    const e = await get(`/api/recordings/${S.rid}/events/${S.event}`);
    fill(box, 
      el('h3', {}, `Event #${e.id}: ${e.kind}`),
      el('div', {}, `${procLabel(e.proc)} at ${fmtTime(e.ts, S.unit)}` + (e.wall ? ` (${e.wall})` : '')),
      el('div', { class: 'mono', id: 'event-text' }, e.text),
      e.matched ? el('div', {}, e.kind === 'send' ? 'received as ' : 'sent as ', evLink(e.matched)) : null,
      el('div', { class: 'toolbar' },
        el('button', { id: 'causal-past', onclick: () => walk(e, 'past') }, 'Causal past'),
        el('button', { id: 'causal-future', onclick: () => walk(e, 'future') }, 'Causal future'),
        el('button', { onclick: () => { causal.past.clear(); causal.future.clear(); setMarks([]); emit('causal'); } }, 'Clear'),
        el('span', { id: 'causal-info', class: 'muted' })),
      el('div', {}, termView(e.payload)));
  } catch (err) { showError(err); }
}

async function walk(e, dir) {
  try {
    const r = await get(`/api/recordings/${S.rid}/causal/${e.id}`, { dir, limit: 1000 });
    causal[dir] = new Set(r.events.map(x => x.id));
    const other = dir === 'past' ? 'future' : 'past';
    const marks = S.marks.filter(m => m.cls === other);
    setMarks([...marks, ...r.events.map(x => ({ ts: x.ts, proc: x.proc, id: x.id, cls: dir }))]);
    document.getElementById('causal-info').textContent =
      `${r.events.length}${r.more ? '+' : ''} events in its causal ${dir}, across ${r.processes} processes` +
      (r.gaps.length ? ` · ${r.gaps.length} gap(s): some links may be missing` : '');
    emit('causal');
  } catch (err) { showError(err); }
}
