// Entry point: routes (#/ recordings, #/rec/ID a recording), the recording view's layout (the
// timeline on top, tabs below) and the first load.

import { el, get, showError, status, fill } from './api.js';
import { S, emit, on, setCursor, setWindow } from './state.js';
import { showRecordings } from './recordings.js';
import { mountTimeline } from './timeline.js';
import { mountMoment } from './moment.js';
import { mountMessages, refresh as refreshMessages } from './messages.js';
import { mountEvent } from './event.js';
import { mountQuery } from './query.js';
import { mountCalls, refresh as refreshCalls } from './calls.js';
import { mountDiagnosis } from './diagnosis.js';
import { showLive } from './live.js';

// the token came in the URL; the server answered with a cookie: keep it out of history
if (location.search.includes('token=')) history.replaceState(null, '', location.pathname + location.hash);

const main = document.getElementById('main');
let mounted = false;

const TABS = [
  ['moment', 'At the cursor'], ['messages', 'Messages'], ['query', 'Query'], ['calls', 'Calls'],
  ['diagnosis', 'Diagnosis'],
];

async function openRecording(rid) {
  S.rid = rid;
  S.selected = []; S.focus = null; S.event = null; S.marks = [];
  const summary = await get(`/api/recordings/${rid}`);
  S.summary = summary;
  S.unit = (summary.nodes[0] && summary.nodes[0].time_unit) || 1e9;
  document.getElementById('rec-title').textContent = `#${summary.id} ${summary.name} — ${summary.events.toLocaleString()} events` +
    (summary.dropped ? `, ${summary.dropped} dropped` : '');
  const tlBox = el('div', {});
  const panels = {}, buttons = {};
  const tabs = el('div', { class: 'tabs' });
  const body = el('div', { class: 'panel' });
  for (const [id, label] of TABS) {
    panels[id] = el('div', { id: `panel-${id}` });
    buttons[id] = el('button', { id: `tab-${id}`, onclick: () => choose(id) }, label);
    tabs.append(buttons[id]);
  }
  const eventCol = el('div', {});
  fill(main, tlBox, tabs, el('div', { class: 'cols', style: 'grid-template-columns: 2fr 1fr' }, body, eventCol));
  mountTimeline(tlBox);
  mountMoment(panels.moment);
  mountMessages(panels.messages);
  mountQuery(panels.query);
  mountCalls(panels.calls);
  mountDiagnosis(panels.diagnosis);
  mountEvent(eventCol);
  mounted = true;
  function choose(id) {
    for (const [k] of TABS) buttons[k].classList.toggle('on', k === id);
    fill(body, panels[id]);
    if (id === 'messages') refreshMessages();
    if (id === 'calls') refreshCalls();
    if (id === 'moment') emit('scrubbed');
  }
  on('event', () => { if (S.event && body.contains(panels.diagnosis)) choose('moment'); });
  on('window', () => { if (body.contains(panels.messages)) refreshMessages(); });
  // the timeline first: the panels below ask the store only once it is drawn
  let first = true;
  on('lanes', () => { if (first) { first = false; choose('moment'); } });
  for (const [k] of TABS) buttons[k].classList.toggle('on', k === 'moment');
  body.replaceChildren(panels.moment);
  S.cursor = 0;
  setWindow(0, summary.until || 1);
  setCursor(0);
}

async function route() {
  const m = location.hash.match(/^#\/rec\/(\d+)/);
  try {
    if (location.hash.startsWith('#/live')) {
      if (mounted) { location.reload(); return; }
      document.getElementById('rec-title').textContent = 'live node';
      mounted = true;
      await showLive(main);
    } else if (m) {
      if (mounted) { location.reload(); return; }
      await openRecording(Number(m[1]));
    } else {
      document.getElementById('rec-title').textContent = '';
      if (mounted) { location.reload(); return; }
      await showRecordings(main);
    }
  } catch (e) { showError(e); status(''); }
}

window.addEventListener('hashchange', route);
route();
