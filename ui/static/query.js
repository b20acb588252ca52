// The query box: the query language (docs/query-language.md); each result row links into the
// timeline (cursor, process, event), and every result can be marked on the timeline at once.

import { el, post, showError, fill } from './api.js';
import { S, procLabel, setMarks, showEvent } from './state.js';

let input, out, cursor = null;

export function mountQuery(container) {
  input = el('input', { type: 'text', id: 'query-input', style: 'width: 60%', placeholder: 'calls | count by function',
    onkeydown: ev => { if (ev.key === 'Enter') run(false); } });
  out = el('div', { id: 'query-out' });
  container.append(el('div', { class: 'toolbar' }, input,
    el('button', { id: 'query-run', onclick: () => run(false) }, 'Run'),
    el('span', { class: 'muted' }, 'e.g. ', el('code', {}, 'sends never received'), ', ', el('code', {}, 'states of MyApp.Cart'))), out);
}

async function run(more) {
  try {
    const r = await post(`/api/recordings/${S.rid}/query`, { text: input.value, cursor: more ? cursor : null });
    cursor = r.next_cursor;
    draw(r);
  } catch (e) { fill(out, el('div', { class: 'error-inline', id: 'query-error' }, e.message)); }
}

function draw(r) {
  const notes = [r.gaps, ...r.notes].filter(Boolean);
  if (r.shape === 'groups') {
    const cols = r.items.length ? Object.keys(r.items[0]) : r.columns;
    fill(out, el('table', { id: 'query-table' }, el('tr', {}, cols.map(c => el('th', {}, c))),
      r.items.map(it => el('tr', {}, cols.map(c => el('td', {}, it[c] ?? ''))))),
      notes.map(n => el('div', { class: 'muted' }, n)));
    return;
  }
  const all = r.links.flat();
  const rows = r.items.map((it, i) => {
    const links = r.links[i] || [];
    const first = it.steps ? it.steps[0] : it;
    return el('tr', { class: 'row', dataset: { id: links[0]?.id, ts: links[0]?.ts },
      onclick: () => links[0] && showEvent(links[0].id, links[0].ts, links[0].proc) },
      el('td', {}, links.map(l => el('a', { class: 'ev', onclick: ev => { ev.stopPropagation(); showEvent(l.id, l.ts, l.proc); } }, `#${l.id} `))),
      el('td', {}, first.kind || ''), el('td', {}, links[0] ? procLabel(links[0].proc) : ''),
      el('td', {}, first.function || ''),
      el('td', { class: 'mono' }, (first.payload || '').slice(0, 160)),
      el('td', {}, it.missing ? `missing: ${it.missing}` : it.duration_ms !== undefined ? `${it.duration_ms.toFixed(3)} ms` : ''));
  });
  fill(out, 
    el('div', { class: 'toolbar' }, el('span', {}, `${r.items.length} row(s)`),
      el('button', { id: 'query-mark', onclick: () => setMarks(all.map(l => ({ ...l, cls: 'hit' }))) }, 'Mark all on the timeline'),
      cursor ? el('button', { onclick: () => run(true) }, 'Next page') : null),
    el('table', { id: 'query-table' }, el('tr', {}, ['events', 'kind', 'process', 'function', 'payload', ''].map(c => el('th', {}, c))), rows),
    notes.map(n => el('div', { class: 'muted' }, n)));
}
