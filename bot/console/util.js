// Shared helpers: the API client (session cookie + X-CSRF-Token), DOM
// building without innerHTML, and time formatting in the viewer's zone.

export const session = { csrf: '', person: null, people: [], services: [], schedules: [] };

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/// fetch() on baton's API with the session cookie; state changes carry the
/// session's CSRF token. Returns {status, etag, body} (body null on 304).
export async function api(method, path, { body, etag } = {}) {
  const headers = { 'Accept': 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = session.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (etag) headers['If-None-Match'] = etag;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 304) return { status: 304, etag, body: null };
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401 && path !== '/console/session') signedOut();
    throw new ApiError(res.status, (data && data.message) || res.statusText);
  }
  return { status: res.status, etag: res.headers.get('ETag'), body: data };
}

/// el('button', {class: 'primary', onclick: f}, 'Text', child...)
export function el(tag, attrs = {}, ...children) {
  const svg = ['svg', 'g', 'rect', 'line', 'text', 'path', 'circle', 'title', 'polyline', 'pattern', 'defs', 'tspan'].includes(tag);
  const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function toast(message) {
  const t = document.getElementById('toast');
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

export function signedOut() {
  const main = document.getElementById('main');
  main.replaceChildren(el('div', { class: 'panel', id: 'signed-out' },
    el('h1', {}, 'Sign in to baton'),
    el('p', {}, 'Ask baton for a one-time sign-in link in a direct message: ', el('code', {}, '/baton console'),
      ' in Slack, ', el('code', {}, '@baton console'), ' in Teams, or on the server: ',
      el('code', {}, 'baton console-link --person <you>'), '.')));
}

export const viewerZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

const dateTime = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
});
export const formatTime = (iso) => dateTime.format(new Date(iso));

/// "2027-03-14T09:00" in the viewer's zone (for data attributes and tests).
export function localStamp(date) {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(date).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/// "2 min 13 s", "1 h 5 min", "3 d 2 h"
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function relative(iso, now = Date.now()) {
  const s = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (s < 60) return 'just now';
  return `${formatDuration(s).split(' ').slice(0, 2).join(' ')} ago`;
}

const stateIcons = { triggered: '▲', acknowledged: '◆', resolved: '✓' };
/// A state as an icon, a word and a colour (never the colour alone).
export function stateBadge(state) {
  return el('span', { class: `state state-${state}`, dataset: { state } },
    el('span', { 'aria-hidden': 'true' }, stateIcons[state] || '•'), state[0].toUpperCase() + state.slice(1));
}

export const personName = (id) => (session.people.find((p) => p.id === id) || {}).name || id;
export const serviceName = (id) => (session.services.find((s) => s.id === id) || {}).name || id;

/// Local midnight of a yyyy-mm-dd date in the viewer's zone, plus `days`.
export function localMidnight(isoDate, days = 0) {
  const [y, m, d] = isoDate.split('-').map(Number);
  return new Date(y, m - 1, d + days);
}

export function todayIso() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
}
