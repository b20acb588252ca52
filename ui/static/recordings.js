// The recordings list: search, open, export, import.

import { el, get, post, showError, status, fill } from './api.js';

export async function showRecordings(main) {
  const search = el('input', { type: 'search', id: 'rec-search', placeholder: 'search names, specs…', style: 'width: 280px' });
  const file = el('input', { type: 'file', id: 'import-file', accept: '.esrec,.db,application/octet-stream' });
  const list = el('div', { id: 'rec-list' });
  fill(main, el('h2', {}, 'Recordings'),
    el('div', { class: 'toolbar' }, search, el('span', { class: 'muted' }, 'Import a recording file:'), file), list);
  const load = async () => {
    try {
      const r = await get('/api/recordings', { q: search.value });
      fill(list, r.recordings.length ? el('table', {},
        el('tr', {}, ['id', 'name', 'status', 'events', 'dropped', 'created', ''].map(h => el('th', {}, h))),
        r.recordings.map(x => el('tr', { class: 'row', dataset: { id: x.id }, onclick: () => { location.hash = `#/rec/${x.id}`; } },
          el('td', {}, x.id), el('td', {}, x.name), el('td', {}, x.status), el('td', {}, x.events.toLocaleString()),
          el('td', {}, x.dropped ? el('span', { style: 'color: var(--err)' }, x.dropped) : '0'),
          el('td', {}, new Date(x.created_at * 1000).toLocaleString()),
          el('td', {}, el('a', { href: `/api/recordings/${x.id}/export`, onclick: ev => ev.stopPropagation() }, 'export')))))
        : el('p', { class: 'muted' }, search.value ? 'No recording matches.' : 'No recordings yet: record one with `elixir-scope record`.'));
      status(`${r.total} recording(s)`);
    } catch (e) { showError(e); }
  };
  search.addEventListener('input', () => { clearTimeout(load.t); load.t = setTimeout(load, 150); });
  file.addEventListener('change', async () => {
    if (!file.files.length) return;
    try {
      const r = await post('/api/recordings/import', file.files[0], true);
      await load();
      status(`imported as recording ${r.id}`);
    } catch (e) { showError(e); }
  });
  await load();
}
