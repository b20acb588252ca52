// A decoded Erlang term (ui/terms.py JSON) as a collapsible tree of <details>; changed parts marked.

import { el } from './api.js';

export function termTree(node, label = null, depth = 0) {
  const mark = node.mark ? ` ${node.mark}` : '';
  const key = label !== null ? [el('span', { class: 'k' }, label), ': '] : [];
  if (!node.c) return el('div', { class: 'leaf' + mark, dataset: { path: label ?? '' } }, ...key, node.s);
  const open = depth < 2 || node.mark === 'inner' || node.mark === 'changed';
  const head = node.k === 'struct' ? `%${node.name.replace(/^:?"?Elixir\./, '')}{…}`
    : node.k === 'map' ? `%{…} (${node.c.length + (node.more || 0)})`
    : node.k === 'list' ? `[…] (${node.c.length + (node.more || 0)})`
    : `{…} (${node.c.length + (node.more || 0)})`;
  const d = el('details', { class: mark.trim() || null, open: open || null },
    el('summary', {}, ...key, head, el('span', { class: 'muted' }, '  ' + node.s.slice(0, 100))));
  for (const [k, child] of node.c) d.append(termTree(child, k, depth + 1));
  if (node.more) d.append(el('div', { class: 'leaf muted' }, `… ${node.more} more`));
  return d;
}

export function termView(node) {
  return el('div', { class: 'tt' }, termTree(node));
}
