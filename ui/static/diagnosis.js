// A diagnosis report (the JSON of `elixir-scope diagnose --json`, see docs/diagnosis.md) with
// every event id it cites — evidence, causal chains, state diffs, message arrows — a link into
// the timeline. The report is read in the browser; only the cited events are fetched.

import { el, fill, get, showError } from './api.js';
import { S, showEvent } from './state.js';

const EVENT_KEYS = new Set(['event_id', 'send_event', 'receive_event']);
let out;

export function mountDiagnosis(container) {
  const file = el('input', { type: 'file', id: 'report-file', accept: '.json,application/json' });
  const paste = el('textarea', { id: 'report-json', rows: 3, style: 'width: 100%', placeholder: 'or paste the report JSON here' });
  out = el('div', { id: 'report' });
  file.addEventListener('change', async () => { if (file.files.length) load(await file.files[0].text()); });
  container.append(el('div', { class: 'toolbar' }, el('span', {}, 'Report from ', el('code', {}, 'elixir-scope diagnose --json'), ':'), file),
    paste, el('div', { class: 'toolbar' }, el('button', { id: 'report-load', onclick: () => load(paste.value) }, 'Show')), out);
}

async function openEvent(id) {
  try {
    const e = await get(`/api/recordings/${S.rid}/events/${id}`);
    showEvent(e.id, e.ts, e.proc);
  } catch (err) { showError(err); }
}

const link = id => el('a', { class: 'ev', dataset: { id }, onclick: () => openEvent(id) }, `#${id}`);

function evidence(ev) {
  const ids = Object.entries(ev).filter(([k, v]) => EVENT_KEYS.has(k) && Number.isInteger(v)).map(([, v]) => v);
  const text = ev.summary || ev.message || ev.caused_by || ev.kind || '';
  return el('li', {}, ids.map(link), ids.length ? ' ' : '', text,
    ev.changes ? el('ul', {}, ev.changes.map(c => el('li', { class: 'change' }, `${c.path}: ${c.before ?? ''} → ${c.after ?? ''}`))) : null);
}

const HEADS = { root: 'Root cause: ', suspect: 'Where to look first (low confidence): ' };

function finding(f, role = '') {
  return el('div', { class: 'box finding' + (role ? ` ${role}` : ''), style: 'margin: 8px 0' },
    el('h3', {}, (HEADS[role] || '') + f.title, el('span', { class: 'muted' }, ` · ${f.severity}, confidence ${Math.round(f.confidence * 100)}%`)),
    el('p', {}, f.summary),
    f.culprit ? el('div', {}, role === 'suspect' ? 'Suspect: ' : 'Culprit: ', el('code', {}, [f.culprit.module, f.culprit.function].filter(Boolean).join('.')),
      f.culprit.function ? '' : ' (no function identified)', f.culprit.detail ? ` — ${f.culprit.detail}` : '') : null,
    ...['evidence', 'causal_chain', 'state_diffs', 'messages'].filter(k => Array.isArray(f[k]) && f[k].length)
      .map(k => [el('h4', {}, k.replace('_', ' ')), el('ul', { class: `ev-${k}` }, f[k].map(evidence))]),
    role === 'suspect' && f.weak ? el('p', { class: 'muted' }, `Not a verdict: ${f.weak}.`) : null);
}

function load(text) {
  let r;
  try { r = JSON.parse(text); } catch (e) { fill(out, el('div', { class: 'error-inline', id: 'report-error' }, `not JSON: ${e.message}`)); return; }
  if (!r || typeof r !== 'object' || !('verdict' in r)) {
    fill(out, el('div', { class: 'error-inline', id: 'report-error' }, 'this is not a diagnosis report: it has no "verdict" (make one with elixir-scope diagnose --json)'));
    return;
  }
  const other = r.recording_id && r.recording_id !== S.rid;
  fill(out,
    other ? el('div', { class: 'error-inline' }, `This report is about recording ${r.recording_id}: `, el('a', { href: `#/rec/${r.recording_id}` }, 'open it'), ' to follow its links.') : null,
    el('h3', {}, `${r.symptom} — `, el('span', { id: 'report-verdict' }, r.verdict.replaceAll('_', ' '))),
    r.root_cause ? finding(r.root_cause, 'root') : null,
    !r.root_cause && r.suspect ? finding(r.suspect, 'suspect') : null,
    (r.findings || []).filter(f => f.title !== (r.root_cause || r.suspect || {}).title).map(f => finding(f)),
    r.fix ? el('div', { class: 'box' }, el('h3', {}, 'Fix'), el('p', {}, r.fix), r.fix_example ? el('pre', { class: 'mono' }, r.fix_example) : null) : null,
    (r.gaps || []).length ? el('div', { class: 'muted' }, 'Gaps: ', r.gaps.join('; ')) : null);
}
