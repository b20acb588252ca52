// The sequence diagram of messages between the selected processes in the visible window: one
// lifeline per process, one arrow per message from its send to its receive (dashed red when it
// was never received). An arrow's ends are its send and receive events; clicking it selects the send.

import { el, fmtTime, get, showError, svg, fill } from './api.js';
import { S, on, showEvent } from './state.js';
import { causal } from './event.js';

let box, seq = 0;
const COL = 170, ROW = 26, TOP = 40;

export function mountMessages(container) {
  box = el('div', { class: 'box', id: 'seq-box', style: 'max-height: 560px' });
  container.append(box);
  for (const name of ['selected', 'lanes', 'causal', 'event']) on(name, refresh);
}

export async function refresh() {
  if (!S.rid || !box.isConnected) return;
  const my = ++seq;
  const procs = S.selected.length ? S.selected : S.lanes.slice(0, 5).map(l => l.proc.key);
  try {
    const r = await get(`/api/recordings/${S.rid}/messages`, { since: S.win.since, until: S.win.until, procs: procs.join(','), limit: 200 });
    if (my !== seq) return;
    draw(r, procs);
  } catch (e) { showError(e); }
}

function draw(r, procs) {
  const head = el('div', { class: 'muted' }, `${r.messages.length} message(s) ${S.selected.length ? 'of the selected processes' : 'of the busiest processes (click lane names to choose)'}` +
    ` in ${fmtTime(S.win.since, S.unit)} – ${fmtTime(S.win.until, S.unit)}` + (r.next_after ? ' · more: zoom in' : '') +
    (r.gaps.length ? ` · ${r.gaps.length} gap(s) in the window: messages may be missing` : ''));
  const cols = {};
  r.lanes.forEach((p, i) => { cols[p.key] = i; });
  const width = Math.max(1, r.lanes.length) * COL + 40, height = TOP + r.messages.length * ROW + 20;
  const g = svg('svg', { class: 'seq', id: 'seq', width, height });
  r.lanes.forEach((p, i) => {
    const x = 20 + i * COL + COL / 2;
    g.append(svg('text', { x, y: 16, 'text-anchor': 'middle', class: 'head' }, p.label.length > 24 ? p.label.slice(0, 23) + '…' : p.label),
      svg('line', { class: 'life', x1: x, y1: 24, x2: x, y2: height - 6 }));
  });
  r.messages.forEach((m, i) => {
    const y = TOP + i * ROW;
    const x1 = 20 + (cols[m.from] ?? 0) * COL + COL / 2;
    const x2 = m.to in cols ? 20 + cols[m.to] * COL + COL / 2 : x1 + COL * 0.6;
    const cls = ['msg', m.receive ? '' : 'lost', S.event === m.send.id ? 'sel' : '',
      causal.past.has(m.send.id) ? 'past' : '', causal.future.has(m.send.id) ? 'future' : ''].join(' ').trim();
    const dir = x2 >= x1 ? 1 : -1;
    const self = x1 === x2;
    const line = self ? svg('path', { d: `M${x1},${y} h30 v10 h-30`, fill: 'none', stroke: '#4b4f5c' })
      : svg('line', { x1, y1: y, x2: x2 - dir * 4, y2: y + 8 });
    const arrow = svg('polygon', { points: self ? '' : `${x2},${y + 8} ${x2 - dir * 8},${y + 3} ${x2 - dir * 8},${y + 12}`, fill: '#4b4f5c' });
    g.append(svg('g', { class: cls, 'data-send': m.send.id, 'data-recv': m.receive ? m.receive.id : '',
      'data-from': m.from ?? '', 'data-to': m.to ?? '', onclick: () => showEvent(m.send.id, m.send.ts, m.from) },
      svg('title', {}, `${m.message}\nsend #${m.send.id} at ${fmtTime(m.send.ts, S.unit)}` +
        (m.receive ? `\nreceive #${m.receive.id} at ${fmtTime(m.receive.ts, S.unit)}` : '\nnever received')),
      svg('rect', { x: Math.min(x1, x2), y: y - 13, width: Math.max(Math.abs(x2 - x1), 40), height: 24, fill: 'transparent' }),
      line, arrow,
      m.receive ? svg('circle', { class: 'end-recv', cx: x2, cy: y + 8, r: 5, 'data-id': m.receive.id,
        onclick: ev => { ev.stopPropagation(); showEvent(m.receive.id, m.receive.ts, m.to); } },
        svg('title', {}, `receive #${m.receive.id}`)) : null,
      svg('text', { x: Math.min(x1, x2) + 6, y: y - 3 }, m.message.length > 40 ? m.message.slice(0, 39) + '…' : m.message)));
  });
  fill(box, head, g);
}
