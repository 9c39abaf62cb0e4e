// Incidents: a live list (polling GET /api/v1/incidents with If-None-Match;
// a 304 costs nothing), filters, and the selected incident's timeline with
// its actions (acknowledge, resolve, escalate, reassign).
import {
  api, el, session, toast, stateBadge, formatTime, formatDuration, relative, personName, serviceName,
} from './util.js';

const POLL_MS = 2000;
const kindLabels = {
  triggered: 'Triggered', alert: 'Alert', acknowledged: 'Acknowledged', resolved: 'Resolved', escalated: 'Escalated',
  reassigned: 'Reassigned', paged: 'Paged', step_skipped: 'Step skipped', policy_exhausted: 'Policy exhausted',
  notification_sent: 'Delivered', notification_failed: 'Delivery failed', note: 'Note',
};

export async function incidentsPage(main) {
  const selectedFromHash = () => Number((location.hash.split('/')[1]) || 0) || null;
  const state = { filter: 'all', service: '', etag: null, rows: [], seen: null, selected: selectedFromHash(), timer: null, stopped: false };

  const stateSel = el('select', { id: 'filter-state' },
    ['all', 'triggered', 'acknowledged', 'resolved'].map((s) => el('option', { value: s }, s === 'all' ? 'All states' : s[0].toUpperCase() + s.slice(1))));
  const serviceSel = el('select', { id: 'filter-service' }, el('option', { value: '' }, 'All services'),
    session.services.map((s) => el('option', { value: s.id }, s.name)));
  const list = el('ul', { class: 'incidents', id: 'incident-list', 'aria-live': 'polite' });
  const detail = el('section', { class: 'panel detail', id: 'incident-detail', 'aria-label': 'Incident' },
    el('p', { class: 'muted' }, 'Choose an incident to see its timeline.'));
  const status = el('span', { class: 'muted', id: 'poll-status' });
  main.append(
    el('h1', {}, 'Incidents'),
    el('div', { class: 'filters' },
      el('label', {}, 'State', stateSel), el('label', {}, 'Service', serviceSel), status),
    el('div', { class: 'layout' }, el('section', { 'aria-label': 'Incident list' }, list), detail));

  stateSel.addEventListener('change', () => { state.filter = stateSel.value; state.etag = null; poll(); });
  serviceSel.addEventListener('change', () => renderList());

  function renderList() {
    const rows = state.rows.filter((i) => !serviceSel.value || i.service === serviceSel.value);
    if (!rows.length) {
      list.replaceChildren(el('li', { class: 'empty' }, 'No incidents match.'));
      return;
    }
    list.replaceChildren(...rows.map((i) => {
      const fresh = state.seen && !state.seen.has(i.number);
      return el('li', { class: [i.number === state.selected ? 'selected' : '', fresh ? 'fresh' : ''].join(' ').trim() || undefined,
        dataset: { number: i.number, state: i.state } },
        el('button', { type: 'button', class: 'row', 'aria-label': `Incident ${i.number}: ${i.summary}, ${i.state}`,
          onclick: () => { location.hash = `#incidents/${i.number}`; } },
          el('span', { class: 'num' }, `#${i.number}`),
          el('span', {}, stateBadge(i.state), i.suppressed ? el('span', { class: 'muted' }, ' (held: maintenance)') : ''),
          el('span', { class: 'summary' }, i.summary),
          el('span', { class: 'meta' }, `${i.service_name || i.service} · ${i.owner ? personName(i.owner) : 'nobody paged'} · ${relative(i.created_at)}`)));
    }));
    state.seen = new Set(state.rows.map((i) => i.number));
  }

  async function poll() {
    clearTimeout(state.timer);
    if (state.stopped) return;
    try {
      const q = state.filter === 'all' ? '' : `&state=${state.filter}`;
      const r = await api('GET', `/api/v1/incidents?limit=100${q}`, { etag: state.etag });
      if (r.status === 200) {
        state.etag = r.etag;
        if (!state.seen) state.seen = new Set(r.body.incidents.map((i) => i.number));
        state.rows = r.body.incidents;
        renderList();
        if (state.selected) await showDetail(state.selected, false);
      }
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      status.textContent = `Not updated: ${e.message}`;
    }
    if (!state.stopped) state.timer = setTimeout(poll, POLL_MS);
  }

  async function act(number, what, body) {
    try {
      const r = await api('POST', `/api/v1/incidents/${number}/${what}`, { body });
      toast(r.status === 202 ? `#${number}: accepted` : `#${number} is now ${r.body.state}`);
    } catch (e) {
      toast(`#${number}: ${e.message}`);
    }
    state.etag = null;
    await poll();
    await showDetail(number, true);
  }

  async function showDetail(number, force) {
    let inc;
    try {
      inc = (await api('GET', `/api/v1/incidents/${number}`)).body;
    } catch (e) {
      detail.replaceChildren(el('p', { class: 'error' }, `#${number}: ${e.message}`));
      return;
    }
    // Keep the form the viewer is using when nothing changed.
    const key = `${inc.updated_at}|${inc.timeline.length}`;
    if (!force && detail.dataset.key === key && detail.dataset.number === String(number)) return;
    detail.dataset.key = key;
    detail.dataset.number = String(number);
    detail.replaceChildren(...renderDetail(inc).flat());
  }

  function renderDetail(inc) {
    const open = inc.state !== 'resolved';
    const ack = inc.timeline.find((e) => e.kind === 'acknowledged');
    const firstPage = inc.timeline.find((e) => e.kind === 'notification_sent' && /^Page /.test(e.message));
    const created = new Date(inc.created_at).getTime();
    const reassignSel = el('select', { id: 'reassign-person', 'aria-label': 'Reassign to' },
      session.people.map((p) => el('option', { value: p.id, selected: p.id === session.person.id }, p.name)));
    return [
      el('h2', {}, `#${inc.number} ${inc.summary}`),
      el('div', {}, stateBadge(inc.state), inc.suppressed ? el('span', { class: 'muted' }, ` held by maintenance until ${formatTime(inc.maintenance.until)}`) : ''),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Service'), el('dd', {}, inc.service_name || serviceName(inc.service)),
        el('dt', {}, 'Owner'), el('dd', { id: 'incident-owner' }, inc.owner ? personName(inc.owner) : 'nobody'),
        el('dt', {}, 'Severity'), el('dd', {}, inc.severity),
        el('dt', {}, 'Triggered'), el('dd', {}, formatTime(inc.created_at)),
        inc.escalation.active ? [el('dt', {}, 'Escalation'), el('dd', {}, `step ${inc.escalation.step}, round ${inc.escalation.round}; next at ${formatTime(inc.escalation.next_escalation_at)}`)] : [],
        el('dt', {}, 'Alerts'), el('dd', {}, String(inc.alert_count))),
      ack ? el('p', { class: 'response-line', id: 'response-line' },
        `Acknowledged by ${personName(ack.actor)} via ${ack.channel}, ${formatDuration((new Date(ack.at).getTime() - created) / 1000)} after it was triggered`,
        firstPage ? ` (first page delivered after ${formatDuration((new Date(firstPage.at).getTime() - created) / 1000)}).` : '.')
        : el('p', { class: 'muted' }, open ? 'Not acknowledged yet.' : 'Resolved without an acknowledgement.'),
      el('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' },
        el('button', { type: 'button', class: 'primary', id: 'btn-ack', disabled: inc.state !== 'triggered', onclick: () => act(inc.number, 'ack') }, '◆ Acknowledge'),
        el('button', { type: 'button', id: 'btn-resolve', disabled: !open, onclick: () => act(inc.number, 'resolve') }, '✓ Resolve'),
        el('button', { type: 'button', id: 'btn-escalate', disabled: !open, onclick: () => act(inc.number, 'escalate') }, '⇧ Escalate'),
        el('span', { class: 'reassign' }, reassignSel,
          el('button', { type: 'button', id: 'btn-reassign', disabled: !open, onclick: () => act(inc.number, 'reassign', { person: reassignSel.value }) }, 'Reassign'))),
      el('h2', {}, 'Timeline'),
      el('ol', { class: 'timeline', id: 'timeline' }, inc.timeline.map((e) => {
        const via = e.kind.startsWith('notification_') ? (/ via (\w+)/.exec(e.message) || [])[1] : (e.channel !== 'engine' ? e.channel : null);
        return el('li', { class: `k-${e.kind}`, dataset: { kind: e.kind } },
          el('div', { class: 'when' }, formatTime(e.at), ` (+${formatDuration((new Date(e.at).getTime() - created) / 1000)})`),
          el('div', {}, el('span', { class: 'kind' }, kindLabels[e.kind] || e.kind), ' ',
            via ? el('span', { class: 'channel' }, via) : '', ' ',
            e.actor && e.actor !== 'baton' ? el('span', { class: 'muted' }, `by ${personName(e.actor)}`) : ''),
          el('div', {}, e.message));
      })),
      inc.notifications && inc.notifications.length ? [
        el('h2', {}, 'Pages and deliveries'),
        el('div', { class: 'scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, ['#', 'To', 'Channel', 'Kind', 'Attempts', 'Last error'].map((h) => el('th', {}, h)))),
          el('tbody', {}, inc.notifications.map((n) => el('tr', {},
            el('td', {}, String(n.id)), el('td', {}, n.person ? personName(n.person) : 'service'), el('td', {}, n.method),
            el('td', {}, n.kind), el('td', { class: 'num' }, String(n.attempts)), el('td', {}, n.last_error || '–'))))))] : [],
    ];
  }

  await poll();
  const onHash = () => {
    state.selected = selectedFromHash();
    renderList();
    if (state.selected) showDetail(state.selected, true);
  };
  window.addEventListener('hashchange', onHash);
  if (state.selected) await showDetail(state.selected, true);
  return () => { state.stopped = true; clearTimeout(state.timer); window.removeEventListener('hashchange', onHash); };
}
