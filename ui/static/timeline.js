// The timeline: one swimlane per process, event density per bucket (drawn on a canvas from the
// server's aggregate), gaps hatched in red, the cursor in orange, highlighted events as ticks.
// Click or drag to scrub; the wheel zooms around the pointer; the toolbar zooms, pans and steps.

import { el, fmtTime, get, showError, status, fill } from './api.js';
import { S, emit, on, setCursor, setFocus, setWindow, toggleSelected } from './state.js';

const LANE_H = 18, LABEL_W = 200;
let root, canvas, plot, labels, axis, cursorEl, info, density = null, seq = 0;

export function mountTimeline(container) {
  info = el('span', { class: 'muted', id: 'tl-info' });
  const bar = el('div', { class: 'toolbar' },
    el('button', { id: 'zoom-in', title: 'zoom in around the cursor', onclick: () => zoomAt(S.cursor, 0.5) }, 'Zoom +'),
    el('button', { id: 'zoom-out', title: 'zoom out', onclick: () => zoomAt(S.cursor, 2) }, 'Zoom −'),
    el('button', { id: 'zoom-fit', title: 'the whole recording', onclick: () => setWindow(0, S.summary.until) }, 'Fit'),
    el('button', { id: 'pan-left', onclick: () => pan(-0.5) }, '◀'),
    el('button', { id: 'pan-right', onclick: () => pan(0.5) }, '▶'),
    el('button', { id: 'prev-event', title: 'previous event', onclick: () => stepEvent(-1) }, '⟨ event'),
    el('button', { id: 'next-event', title: 'next event', onclick: () => stepEvent(1) }, 'event ⟩'),
    el('span', {}, 'cursor: ', el('b', { id: 'cursor-time' }, '')), info);
  canvas = el('canvas');
  cursorEl = el('div', { class: 'tl-cursor', id: 'tl-cursor' });
  plot = el('div', { class: 'tl-plot', id: 'tl-plot' }, canvas, cursorEl);
  labels = el('div', { class: 'tl-labels' });
  root = el('div', { class: 'timeline', id: 'timeline' }, labels, plot);
  axis = el('div', { class: 'tl-axis', id: 'tl-axis' });
  container.append(bar, root, axis);
  wire();
  on('window', load);
  on('cursor', drawCursor);
  on('marks', drawMarks);
  on('selected', drawLabels);
  on('focus', drawLabels);
  window.addEventListener('resize', () => density && draw());
  // ← / → step to the previous / next event, unless typing somewhere
  window.addEventListener('keydown', ev => {
    if (ev.target.closest('input, textarea') || !root.isConnected) return;
    if (ev.key === 'ArrowRight') { ev.preventDefault(); stepEvent(1); }
    if (ev.key === 'ArrowLeft') { ev.preventDefault(); stepEvent(-1); }
  });
}

export async function load() {
  const my = ++seq;
  const width = Math.max(200, root.clientWidth - LABEL_W);
  try {
    const t = performance.now();
    const d = await get(`/api/recordings/${S.rid}/density`, {
      since: S.win.since, until: S.win.until, buckets: Math.min(2000, Math.floor(width / 2)), lanes: 40,
      pin: [...new Set([...S.selected, ...(S.focus ? [S.focus] : [])])].join(',') });
    if (my !== seq) return;
    density = d;
    S.lanes = d.lanes;
    draw();
    if (window.esFirstPaint === undefined) window.esFirstPaint = performance.now();  // read by benchmarks/bench_ui.py
    status(`timeline: ${d.total.toLocaleString()} events in view, ${Math.round(performance.now() - t)} ms`);
    emit('lanes');
  } catch (e) { showError(e); }
}

const xOf = t => (t - density.since) / (density.until - density.since + 1) * (root.clientWidth - LABEL_W);
const tOf = x => density.since + x / (root.clientWidth - LABEL_W) * (density.until - density.since + 1);

function draw() {
  const w = root.clientWidth - LABEL_W, h = Math.max(LANE_H, density.lanes.length * LANE_H);
  root.style.height = h + 'px';
  root.dataset.since = density.since; root.dataset.until = density.until;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = w * dpr; canvas.height = h * dpr;
  canvas.style.width = w + 'px'; canvas.style.height = h + 'px';
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const cw = w / density.buckets;
  let max = 1;
  for (const lane of density.lanes) for (const c of lane.counts) if (c > max) max = c;
  const lmax = Math.log1p(max);
  density.lanes.forEach((lane, i) => {
    const y = i * LANE_H;
    g.fillStyle = i % 2 ? '#fafafe' : '#ffffff';
    g.fillRect(0, y, w, LANE_H);
    lane.counts.forEach((c, b) => {
      if (!c) return;
      g.fillStyle = `rgba(91, 63, 214, ${0.18 + 0.82 * Math.log1p(c) / lmax})`;
      g.fillRect(b * cw, y + 3, Math.max(cw, 1.5), LANE_H - 6);
      if (lane.errors[b]) { g.fillStyle = '#c62a3c'; g.fillRect(b * cw, y + 1, Math.max(cw, 2), 4); }
    });
  });
  plot.querySelectorAll('.tl-gap').forEach(n => n.remove());
  for (const gap of density.gaps) {
    plot.append(el('div', { class: 'tl-gap', style: `left:${xOf(gap.ts)}px`, title: gap.text,
      dataset: { ts: gap.ts, count: gap.count, reason: gap.reason } }));
  }
  drawLabels(); drawAxis(); drawCursor(); drawMarks();
  info.textContent = `${density.lanes.length} of ${density.lanes.length + density.other_processes} processes` +
    (density.gaps_total ? ` · ${density.gaps_total} gap(s): events dropped` : '') +
    ` · window ${fmtTime(density.since, S.unit)} – ${fmtTime(density.until, S.unit)}`;
}

function drawLabels() {
  if (!density) return;
  fill(labels, ...density.lanes.map((lane, i) => el('div', {
    class: 'tl-label' + (S.selected.includes(lane.proc.key) ? ' sel' : '') + (S.focus === lane.proc.key ? ' focus' : ''),
    style: `top:${i * LANE_H}px`, title: `${lane.proc.label} — ${lane.total} events (click: select for messages; double-click: show its state)`,
    dataset: { key: lane.proc.key },
    onclick: () => { toggleSelected(lane.proc.key); setFocus(lane.proc.key); },
  }, (S.focus === lane.proc.key ? '▸ ' : '') + lane.proc.label)));
}

function drawAxis() {
  const w = root.clientWidth - LABEL_W, ticks = [];
  for (let i = 0; i <= 6; i++) {
    const x = i * w / 6;
    ticks.push(el('span', { style: `left:${x}px` }, fmtTime(Math.round(tOf(x)), S.unit)));
  }
  fill(axis, ...ticks);
}

function drawCursor() {
  document.getElementById('cursor-time').textContent = fmtTime(S.cursor, S.unit);
  cursorEl.dataset.t = S.cursor;
  if (!density) return;
  const x = xOf(S.cursor);
  cursorEl.style.left = x + 'px';
  cursorEl.hidden = x < 0 || x > root.clientWidth - LABEL_W;
}

function drawMarks() {
  plot.querySelectorAll('.tl-mark').forEach(n => n.remove());
  if (!density) return;
  const row = Object.fromEntries(density.lanes.map((l, i) => [l.proc.key, i]));
  for (const m of S.marks) {
    if (!(m.proc in row)) continue;
    const x = xOf(m.ts);
    if (x < 0 || x > root.clientWidth - LABEL_W) continue;
    plot.append(el('div', { class: `tl-mark ${m.cls}`, style: `left:${x}px; top:${row[m.proc] * LANE_H + 2}px`,
      dataset: { id: m.id, proc: m.proc } }));
  }
}

function wire() {
  let dragging = false, timer = null;
  const at = ev => tOf(Math.min(Math.max(ev.clientX - plot.getBoundingClientRect().left, 0), root.clientWidth - LABEL_W));
  const commit = () => { clearTimeout(timer); timer = setTimeout(() => emit('scrubbed'), 120); };
  plot.addEventListener('mousedown', ev => {
    if (!density) return;
    dragging = true;
    const lane = Math.floor((ev.clientY - plot.getBoundingClientRect().top) / LANE_H);
    if (density.lanes[lane]) S.focus = density.lanes[lane].proc.key;
    setCursor(at(ev), 'scrub'); commit(); drawLabels();
  });
  window.addEventListener('mousemove', ev => { if (dragging) { setCursor(at(ev), 'scrub'); commit(); } });
  window.addEventListener('mouseup', () => { if (dragging) { dragging = false; emit('focus'); } });
  plot.addEventListener('wheel', ev => {
    if (!density) return;
    ev.preventDefault();
    zoomAt(at(ev), ev.deltaY < 0 ? 0.6 : 1 / 0.6);
  }, { passive: false });
}

function zoomAt(t, factor) {
  const w = (S.win.until - S.win.since) * factor;
  const left = (t - S.win.since) / Math.max(1, S.win.until - S.win.since);
  setWindow(t - w * left, t - w * left + w);
}

function pan(fraction) {
  const w = S.win.until - S.win.since;
  let a = S.win.since + w * fraction;
  a = Math.min(Math.max(0, a), Math.max(0, S.summary.until - w));
  setWindow(a, a + w);
}

async function stepEvent(dir) {
  try {
    let ev = null;
    const proc = S.focus || undefined;
    if (dir > 0) {
      const r = await get(`/api/recordings/${S.rid}/events`, { since: S.cursor + 1, proc, limit: 1 });
      ev = r.events[0];
    } else {
      const r = await get(`/api/recordings/${S.rid}/events`, { since: Math.max(0, S.cursor - (S.win.until - S.win.since)), until: Math.max(0, S.cursor - 1), proc, limit: 500 });
      ev = r.events[r.events.length - 1];
    }
    if (!ev) { status(dir > 0 ? 'no later event' : 'no earlier event in view'); return; }
    if (ev.ts < S.win.since || ev.ts > S.win.until) {
      const w = S.win.until - S.win.since; setWindow(ev.ts - w / 2, ev.ts + w / 2);
    }
    S.event = ev.id;
    setCursor(ev.ts, 'step');
    emit('scrubbed'); emit('event');
  } catch (e) { showError(e); }
}
