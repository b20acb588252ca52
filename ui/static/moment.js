// At the cursor: the processes alive and the supervision tree as it was, and the focused
// process's state (a term tree, the changes from its previous state and the message that caused
// them, its mailbox).

import { el, fmtTime, get, showError, fill } from './api.js';
import { S, on, setFocus, showEvent } from './state.js';
import { termView } from './termtree.js';

let left, right, seq = 0;

export function mountMoment(container) {
  left = el('div', { class: 'box', id: 'sup-box' });
  right = el('div', { class: 'box', id: 'state-box' });
  container.append(el('div', { class: 'cols' }, left, right));
  on('scrubbed', refresh);
  on('focus', refresh);
  on('event', refresh);
}

export function evLink(ev) {
  return el('a', { class: 'ev', dataset: { id: ev.id, ts: ev.ts }, title: `event #${ev.id}`,
    onclick: () => showEvent(ev.id, ev.ts, ev.proc) }, `#${ev.id}`);
}

export async function refresh() {
  if (!S.rid || !left.isConnected) return;
  const my = ++seq;
  try {
    const snap = await get(`/api/recordings/${S.rid}/snapshot`, { t: S.cursor });
    if (my !== seq) return;
    drawTree(snap);
    if (!S.focus) { fill(right, el('p', { class: 'muted' }, 'Click a process (a lane or the tree) to see its state at the cursor.')); return; }
    const st = await get(`/api/recordings/${S.rid}/state`, { t: S.cursor, proc: S.focus });
    if (my !== seq) return;
    drawState(st);
  } catch (e) { showError(e); }
}

function drawTree(snap) {
  const item = n => el('li', {},
    el('span', { class: 'p' + (S.focus === n.proc.key ? ' sel' : ''), dataset: { key: n.proc.key },
      onclick: () => setFocus(n.proc.key) }, n.proc.label),
    n.linked ? el('span', { class: 'lk' }, ' linked') : null,
    n.children.length ? el('ul', {}, n.children.map(item)) : null,
    n.more ? el('div', { class: 'muted' }, `… ${n.more} more`) : null);
  fill(left, 
    el('h3', {}, `Supervision tree at ${fmtTime(snap.t, S.unit)}`),
    el('div', { class: 'muted' }, `${snap.process_count} processes alive` +
      (snap.gaps_before ? ` · ${snap.gaps_before} gap(s) before this moment: spawns or exits may be missing` : '')),
    el('div', { class: 'sup', id: 'sup-tree' }, el('ul', {}, snap.tree.map(item))),
    snap.tree_capped ? el('div', { class: 'muted' }, 'tree cut at 2000 processes') : null);
}

function drawState(st) {
  const parts = [el('h3', {}, `State of ${st.proc.label} at ${fmtTime(st.t, S.unit)}`)];
  if (!st.state) {
    parts.push(el('p', { class: 'muted', id: 'no-state' }, 'No state recorded for this process at or before the cursor ' +
      '(its module was not in the capture\'s state modules, or the cursor is before its first callback).'));
  } else {
    parts.push(el('div', { class: 'muted' }, `from `, evLink(st.state_event), ` (${st.source}` +
      (st.callback ? `, ${st.callback}` : '') + ')' + (st.truncated ? ' · truncated by the agent' : '') +
      (st.redacted ? ' · redacted' : '')));
    if (st.gaps && st.gaps.length) parts.push(el('div', { class: 'error-inline' }, `⚠ ${st.gaps.length} gap(s) since that state: it may have changed unseen`));
    if (st.change) {
      const c = st.change;
      parts.push(el('div', { id: 'cause' }, el('b', {}, 'Last change: '),
        c.cause ? ['caused by ', evLink(c.cause), ' handling ', el('code', { id: 'cause-message' }, c.message)] : 'outside a traced callback',
        ' at ', evLink(c.at)));
      parts.push(el('ul', { id: 'changes' }, c.changes.map(ch => el('li', { class: 'change' },
        el('span', { class: 'k' }, ['state', ...ch.path.map(p => `[${p}]`)].join('')), ' ',
        ch.kind === 'added' ? ['added ', el('span', { class: 'new' }, ch.new)]
          : ch.kind === 'removed' ? ['removed ', el('span', { class: 'old' }, ch.old)]
          : [el('span', { class: 'old' }, ch.old), ' → ', el('span', { class: 'new' }, ch.new)]))));
    }
    parts.push(el('div', { id: 'state-tree' }, termView(st.state)));
    parts.push(el('details', {}, el('summary', {}, 'as text'), el('pre', { class: 'mono', id: 'state-text' }, st.state_text)));
    if (st.change) parts.push(el('details', {}, el('summary', {}, 'previous state'), termView(st.change.previous)));
  }
  parts.push(el('h3', { style: 'margin-top:10px' }, 'Mailbox'));
  if (st.mailbox === null) parts.push(el('div', { class: 'muted', id: 'mailbox' }, 'unknown (messages or callbacks of this process were not traced)'));
  else parts.push(el('div', { id: 'mailbox' }, st.mailbox.length ? el('ul', {}, st.mailbox.map(e => el('li', {}, evLink(e), ' ', e.text)))
    : el('span', { class: 'muted' }, 'empty'), st.mailbox_len > st.mailbox.length ? el('div', { class: 'muted' }, `… ${st.mailbox_len} in all`) : null));
  fill(right, ...parts);
}
