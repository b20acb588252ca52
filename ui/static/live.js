// The live node: connect, memory / run queue / reductions over the last minutes (sampled every
// 2 s while the page is open), the process table (sort, filter, refresh), the supervision trees,
// and a capture with limits whose recording fills while you watch.

import { el, fill, get, post, showError, status, svg } from './api.js';

let timer = null, sort = 'memory';

export async function showLive(main) {
  const node = el('input', { type: 'text', id: 'live-node', placeholder: 'my_app@myhost', style: 'width: 260px' });
  const cookie = el('input', { type: 'text', id: 'live-cookie', placeholder: 'cookie (default: the server\'s)', style: 'width: 220px' });
  const facts = el('div', { class: 'box', id: 'live-facts' }, el('p', { class: 'muted' }, 'Not connected.'));
  const charts = el('div', { class: 'box', id: 'live-charts' });
  const filter = el('input', { type: 'search', id: 'live-filter', placeholder: 'filter: name, pid, function…' });
  const auto = el('input', { type: 'checkbox', id: 'live-auto', checked: true });
  const table = el('div', { id: 'live-table' });
  const trees = el('div', { class: 'box sup', id: 'live-trees' });
  const cap = captureForm();
  fill(main, el('h2', {}, 'Live node'),
    el('div', { class: 'toolbar' }, node, cookie, el('button', { id: 'live-connect', onclick: connect }, 'Connect')),
    el('div', { class: 'cols', style: 'grid-template-columns: 1fr 2fr' }, facts, charts),
    el('h3', {}, 'Processes'),
    el('div', { class: 'toolbar' }, filter, el('button', { id: 'live-refresh', onclick: () => refreshTable() }, 'Refresh'),
      el('label', {}, auto, ' refresh every 2 s')),
    el('div', { class: 'cols', style: 'grid-template-columns: 2fr 1fr' }, el('div', { class: 'box' }, table),
      el('div', {}, trees, cap)));
  filter.addEventListener('input', () => { clearTimeout(filter.t); filter.t = setTimeout(refreshTable, 200); });

  async function connect() {
    try {
      const r = await post('/api/live/connect', { node: node.value, cookie: cookie.value || null });
      status(`connected to ${r.node}`);
      await Promise.all([tick(), refreshTree()]);
      clearInterval(timer);
      timer = setInterval(() => { if (auto.checked) tick(); }, 2000);
    } catch (e) { showError(e); }
  }

  async function tick() {
    try {
      const o = await get('/api/live/overview');
      const mb = b => (b / 1048576).toFixed(1) + ' MB';
      fill(facts, el('h3', {}, o.node), el('table', {},
        [['OTP', o.otp + (o.elixir ? ` · Elixir ${o.elixir}` : '')], ['processes', `${o.processes} / ${o.process_limit}`],
         ['schedulers', o.schedulers], ['memory', mb(o.memory.total)], ['  processes', mb(o.memory.processes)],
         ['  ets', mb(o.memory.ets)], ['  binary', mb(o.memory.binary)], ['uptime', `${Math.round(o.uptime_ms / 1000)} s`]]
          .map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { dataset: { fact: k.trim() } }, v)))));
      fill(charts, chart('memory (MB)', o.samples, s => s.total / 1048576, 'live-mem'),
        chart('run queue', o.samples, s => s.run_queue, 'live-runq'),
        chart('reductions / s', o.samples, s => s.reductions_per_s ?? 0, 'live-reds'));
      await refreshTable();
    } catch (e) { showError(e); clearInterval(timer); }
  }

  async function refreshTable() {
    try {
      const r = await get('/api/live/processes', { sort, limit: 100, filter: filter.value });
      const head = [['pid', null], ['name', null], ['current function', null], ['behaviour', null],
        ['queue', 'message_queue_len'], ['memory', 'memory'], ['reductions', 'reductions']];
      fill(table, el('table', { id: 'live-procs' },
        el('tr', {}, head.map(([h, key]) => el('th', key ? { class: 'sortable', style: 'cursor:pointer', dataset: { sort: key },
          onclick: () => { sort = key; refreshTable(); } } : {}, h + (key === sort ? ' ▼' : '')))),
        r.rows.map(p => el('tr', { dataset: { pid: p.pid } }, el('td', { class: 'mono' }, p.pid),
          el('td', { class: 'names' }, [p.name, ...(p.app_names ?? []).map(n => `[${n}]`)].filter(Boolean).join(' ')),
          el('td', { class: 'mono' }, p.current ?? ''), el('td', {}, p.behaviour ?? ''), el('td', {}, p.queue),
          el('td', {}, p.memory.toLocaleString()), el('td', {}, p.reductions.toLocaleString())))));
    } catch (e) { showError(e); }
  }

  async function refreshTree() {
    try {
      const r = await get('/api/live/trees');
      const child = c => el('li', {}, el('span', { class: 'p' }, c.id), ' ', el('span', { class: 'lk' }, `${c.type} ${c.pid ?? c.status}`),
        c.sup ? el('ul', {}, c.sup.children.map(child)) : null);
      fill(trees, el('h3', {}, 'Supervision trees'), el('ul', { id: 'live-tree' }, r.trees.map(t => el('li', {},
        el('b', {}, t.name ?? t.pid), ` (${t.application ?? ''}, ${t.strategy ?? ''})`, el('ul', {}, t.children.map(child))))));
    } catch (e) { showError(e); }
  }
}

function chart(title, samples, f, id) {
  const W = 300, H = 70, ys = samples.map(f), max = Math.max(1e-9, ...ys);
  const pts = ys.map((y, i) => `${(i / Math.max(1, ys.length - 1)) * W},${H - (y / max) * (H - 4) - 2}`).join(' ');
  return el('div', { style: 'display:inline-block; margin-right: 12px' }, el('div', { class: 'muted' }, `${title}: ${ys.length ? +ys[ys.length - 1].toFixed(1) : '—'}`),
    svg('svg', { width: W, height: H, id, class: 'chart', style: 'background:#fafafe; border:1px solid #dde0e8' },
      svg('polyline', { points: pts, fill: 'none', stroke: '#5b3fd6', 'stroke-width': 1.5 })));
}

function captureForm() {
  const states = el('input', { type: 'text', id: 'cap-state', placeholder: 'state of: MyApp.Cart, …' });
  const msgs = el('input', { type: 'text', id: 'cap-msgs', placeholder: 'messages of: MyApp.Cart, …' });
  const maxEvents = el('input', { type: 'text', id: 'cap-max-events', value: '1000', style: 'width: 80px' });
  const maxSeconds = el('input', { type: 'text', id: 'cap-max-seconds', value: '30', style: 'width: 60px' });
  const out = el('div', { id: 'cap-status', class: 'muted' });
  let poll = null;
  const start = async () => {
    try {
      const r = await post('/api/live/capture', { state_of: states.value, messages_of: msgs.value,
        max_events: Number(maxEvents.value), max_seconds: Number(maxSeconds.value) });
      clearInterval(poll);
      poll = setInterval(watch, 500);
      watch();
      status(`capturing into recording ${r.recording_id}`);
    } catch (e) { showError(e); }
  };
  const watch = async () => {
    try {
      const s = await get('/api/live/capture');
      fill(out, el('div', {}, `recording `, el('a', { href: `#/rec/${s.recording_id}`, id: 'cap-open' }, `#${s.recording_id}`), ': ',
        el('b', { id: 'cap-events' }, s.events), ` / ${s.limits.max_events} events`, s.dropped ? ` · ${s.dropped} dropped` : '',
        s.running ? ' · running' : ` · ended (${s.end_reason})`),
        el('progress', { max: s.limits.max_events, value: Math.min(s.events, s.limits.max_events), style: 'width: 100%' }));
      out.dataset.running = s.running;
      if (!s.running) clearInterval(poll);
    } catch (e) { showError(e); clearInterval(poll); }
  };
  const stop = async () => { try { await post('/api/live/capture/stop', {}); await watch(); } catch (e) { showError(e); } };
  return el('div', { class: 'box', style: 'margin-top: 10px' }, el('h3', {}, 'Capture'),
    el('div', {}, states), el('div', {}, msgs),
    el('div', { class: 'toolbar' }, 'max events ', maxEvents, ' max seconds ', maxSeconds),
    el('div', { class: 'toolbar' }, el('button', { id: 'cap-start', onclick: start }, 'Start'),
      el('button', { id: 'cap-stop', onclick: stop }, 'Stop')), out);
}
