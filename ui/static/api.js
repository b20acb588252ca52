// Talking to the UI server and small DOM helpers shared by every view.

export class ApiError extends Error {}

async function answer(res) {
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) throw new ApiError((data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

export async function get(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return answer(await fetch(path + (qs ? '?' + qs : ''), { credentials: 'same-origin' }));
}

export async function post(path, body, raw = false) {
  const init = raw
    ? { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } }
    : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
  return answer(await fetch(path, { ...init, credentials: 'same-origin' }));
}

// el('div', {class: 'x', onclick: f}, 'text', child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false)
    node.append(c instanceof Node ? c : String(c));
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined)
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// A relative time (native units since the recording's first event) for people.
export function fmtTime(rel, unit) {
  if (rel === null || rel === undefined) return '—';
  const ms = rel * 1000 / unit;
  if (Math.abs(ms) >= 1000) return (ms / 1000).toFixed(3) + ' s';
  if (Math.abs(ms) >= 1) return ms.toFixed(3) + ' ms';
  return (ms * 1000).toFixed(1) + ' µs';
}

export function showError(err) {
  const box = document.getElementById('error');
  box.textContent = err instanceof Error ? err.message : String(err);
  box.title = 'click to dismiss';
  box.onclick = () => { box.hidden = true; };
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

export function status(text) { document.getElementById('status').textContent = text; }

// Replace a node's children, skipping null/false ones (replaceChildren would print "null").
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter(c => c !== null && c !== undefined && c !== false));
  return node;
}
