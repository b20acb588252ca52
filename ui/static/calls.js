// Calls of the focused process in the visible window: an icicle (x: time, y: depth) and the
// call tree with durations, and the slowest calls.

import { el, fmtTime, get, showError, fill } from './api.js';
import { S, on, procLabel, showEvent } from './state.js';

let box, seq = 0;

export function mountCalls(container) {
  box = el('div', { id: 'calls-box' });
  container.append(box);
  on('focus', refresh);
  on('window', refresh);
}

export async function refresh() {
  if (!S.rid || !box.isConnected) return;
  if (!S.focus) { fill(box, el('p', { class: 'muted' }, 'Click a lane to pick a process.')); return; }
  const my = ++seq;
  try {
    const r = await get(`/api/recordings/${S.rid}/calls`, { proc: S.focus, since: S.win.since, until: S.win.until });
    if (my !== seq) return;
    draw(r);
  } catch (e) { showError(e); }
}

function draw(r) {
  const ice = el('div', { class: 'icicle', id: 'icicle' });
  const span = Math.max(1, S.win.until - S.win.since);
  const x = t => (t - S.win.since) / span * 100;
  let maxDepth = 0;
  const item = (n, depth) => {
    maxDepth = Math.max(maxDepth, depth);
    const end = n.end_ts ?? S.win.until;
    ice.append(el('div', { class: n.raised ? 'raised' : '', title: `${n.mfa} ${n.us !== null ? n.us.toFixed(1) + ' µs' : '(open)'}`,
      style: `left:${x(n.ts)}%; width:${Math.max(0.2, x(end) - x(n.ts))}%; top:${depth * 20}px`,
      onclick: () => showEvent(n.id, n.ts, S.focus) }, n.mfa));
    return el('details', { open: depth < 1 || null },
      el('summary', {}, el('a', { class: 'ev', onclick: () => showEvent(n.id, n.ts, S.focus) }, n.mfa), ' ',
        el('span', { class: 'muted' }, n.us !== null ? `${n.us.toFixed(1)} µs` : 'open'), n.raised ? ' ⚠ raised' : ''),
      n.children.map(c => item(c, depth + 1)));
  };
  const tree = el('div', { class: 'tt', id: 'call-tree' }, r.roots.map(n => item(n, 0)));
  ice.style.height = Math.max(40, (maxDepth + 1) * 20 + 4) + 'px';
  fill(box, 
    el('h3', {}, `Calls of ${procLabel(S.focus)} in ${fmtTime(S.win.since, S.unit)} – ${fmtTime(S.win.until, S.unit)}`),
    r.roots.length ? ice : el('p', { class: 'muted' }, 'No traced calls of this process in the window.'),
    el('div', { class: 'cols', style: 'margin-top:8px' },
      el('div', { class: 'box' }, el('h3', {}, 'Slowest'), el('ol', { id: 'slowest' }, r.slowest.map(s => el('li', {},
        el('a', { class: 'ev', onclick: () => showEvent(s.call.id, s.call.ts, S.focus) }, s.mfa), ` ${s.us.toFixed(1)} µs`)))),
      el('div', { class: 'box' }, el('h3', {}, 'Call tree'), tree)),
    r.capped ? el('div', { class: 'muted' }, 'cut: zoom in for every call') : null);
}
