// The console's entry: the session, the pages (#incidents, #oncall,
// #response) and sign-out. No framework, no build step (docs/console.md).
import { api, el, session, signedOut, ApiError, toast } from './util.js';
import { incidentsPage } from './incidents.js';
import { oncallPage } from './oncall.js';
import { responsePage } from './response.js';

const pages = { incidents: incidentsPage, oncall: oncallPage, response: responsePage };
let stopCurrent = null;
let current = null;

async function show() {
  const name = location.hash.replace(/^#/, '').split(/[/?]/)[0] || 'incidents';
  const page = pages[name] ? name : 'incidents';
  if (page === current) return;  // a page handles its own sub-paths (#incidents/42)
  current = page;
  for (const a of document.querySelectorAll('.top nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (stopCurrent) stopCurrent();
  const main = document.getElementById('main');
  main.replaceChildren();
  document.title = `${document.querySelector(`.top nav a[data-page="${page}"]`).textContent} - baton`;
  stopCurrent = await pages[page](main) || null;
}

async function signOut() {
  try { await api('POST', '/console/logout'); } catch (e) { /* signed out either way */ }
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
  current = null;
  document.getElementById('who').replaceChildren();
  signedOut();
}

async function start() {
  try {
    const s = (await api('GET', '/console/session')).body;
    Object.assign(session, { csrf: s.csrf, person: s.person, people: s.people, services: s.services, schedules: s.schedules });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signedOut();
    document.getElementById('main').replaceChildren(el('p', { class: 'error' }, `baton is not reachable: ${e.message}`));
    return;
  }
  document.getElementById('who').replaceChildren(
    el('span', {}, 'Signed in as ', el('strong', { id: 'me' }, session.person.name)),
    el('button', { type: 'button', onclick: signOut }, 'Sign out'));
  window.addEventListener('hashchange', () => show().catch((e) => toast(e.message)));
  await show();
}

start();
