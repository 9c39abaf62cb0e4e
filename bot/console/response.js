// Response: GET /api/v1/reports/response (docs/reports.md) as charts (time to
// acknowledge per service over time, acknowledgements by channel, pager load
// per person) with the same numbers in tables.
import { api, el, session, formatDuration, localMidnight, todayIso, viewerZone } from './util.js';
import { lineChart, barChart } from './charts.js';

export async function responsePage(main) {
  const to = el('input', { type: 'date', id: 'report-to', value: todayIso() });
  const from = el('input', { type: 'date', id: 'report-from', value: isoDay(localMidnight(todayIso(), -29)) });
  const service = el('select', { id: 'report-service' }, el('option', { value: '' }, 'All services'),
    session.services.map((s) => el('option', { value: s.id }, s.name)));
  const out = el('div', { id: 'report' });
  main.append(el('h1', {}, 'Response'),
    el('div', { class: 'filters' }, el('label', {}, 'From', from), el('label', {}, 'To (inclusive)', to),
      el('label', {}, 'Service', service), el('span', { class: 'muted' }, `Days in ${viewerZone()}`)),
    out);
  for (const c of [from, to, service]) c.addEventListener('change', load);

  async function load() {
    if (!from.value || !to.value) return;
    const q = new URLSearchParams({
      from: localMidnight(from.value).toISOString(), to: localMidnight(to.value, 1).toISOString(), tz: viewerZone(),
    });
    if (service.value) q.set('service', service.value);
    out.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    let r;
    try {
      r = (await api('GET', `/api/v1/reports/response?${q}`)).body;
    } catch (e) {
      out.replaceChildren(el('p', { class: 'error' }, e.status === 404 && /no route/.test(e.message)
        ? 'This baton has no response report yet.' : `The report failed: ${e.message}`));
      return;
    }
    out.replaceChildren(...render(r));
  }
  await load();
  return null;
}

function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const secs = (v) => formatDuration(v);
const p = (s, k) => (s[k] && s[k].p50 !== null ? s[k] : null);

function render(r) {
  const t = r.totals;
  const summary = el('div', { class: 'now-grid', id: 'report-totals' },
    card('Incidents', String(t.incidents)),
    card('Time to acknowledge (median)', p(t, 'time_to_acknowledge_seconds') ? secs(t.time_to_acknowledge_seconds.p50) : '–',
      p(t, 'time_to_acknowledge_seconds') ? `90th percentile ${secs(t.time_to_acknowledge_seconds.p90)}` : 'nothing acknowledged'),
    card('Nobody acknowledged', String(t.unacknowledged)),
    card('Pages out of hours', `${t.pages_out_of_hours} of ${t.pages}`));

  const daily = (r.daily || []).filter((d) => d.days.some((x) => x.incidents > 0));
  const tta = lineChart({
    id: 'chart-tta', title: 'Time to acknowledge per day (median)', format: (v) => formatDuration(v).split(' ').slice(0, 2).join(' '),
    series: daily.map((d) => ({ label: (r.services.find((s) => s.service === d.service) || {}).name || d.service,
      points: d.days.map((x) => ({ x: x.date, y: x.time_to_acknowledge_p50_seconds })) })),
  });
  const via = Object.entries(t.acknowledged_via || {}).sort((a, b) => b[1] - a[1]);
  const channels = barChart({ id: 'chart-channels', title: 'Acknowledged through', rows: via.map(([c, n]) => ({ label: c, parts: [{ value: n, cls: 'bar', name: 'acknowledgements' }] })) });
  const load = barChart({
    id: 'chart-load', title: 'Pager load per person',
    partsLegend: [{ cls: 'bar', name: 'pages in working hours' }, { cls: 'bar-out', name: 'pages out of hours' }],
    rows: r.people.map((x) => ({ label: x.name || x.person,
      parts: [{ value: x.pages - x.pages_out_of_hours, cls: 'bar', name: 'in hours' }, { value: x.pages_out_of_hours, cls: 'bar-out', name: 'out of hours' }] })),
  });
  const charts = el('div', { class: 'charts' }, tta, channels, load);
  if (!daily.length) tta.append(el('p', { class: 'muted' }, 'No incidents in this range.'));

  return [summary, charts,
    table('Services', 'report-services', r.services, (s) => s.name || s.service),
    table('People', 'report-people', r.people, (s) => s.name || s.person),
    table('Channels', 'report-channels', r.channels, (s) => s.channel)];
}

function card(title, value, note) {
  return el('div', { class: 'now-card' }, el('div', { class: 'muted' }, title), el('div', { class: 'person' }, value),
    note ? el('div', { class: 'muted' }, note) : '');
}

function table(title, id, rows, name) {
  const q = (s, k, f) => (s[k] && s[k][f] !== null && s[k][f] !== undefined ? secs(s[k][f]) : '–');
  return el('section', { class: 'panel' }, el('h2', {}, title), el('div', { class: 'scroll' }, el('table', { id },
    el('thead', {}, el('tr', {}, ['', 'Incidents', 'Acknowledged', 'Nobody', 'First page p50', 'Ack p50', 'Ack p90', 'Escalations before ack', 'Pages', 'Out of hours']
      .map((h, i) => el('th', { class: i ? 'num' : undefined, scope: 'col' }, h)))),
    el('tbody', {}, rows.map((s) => el('tr', {},
      el('th', { scope: 'row' }, name(s)),
      el('td', { class: 'num' }, String(s.incidents)), el('td', { class: 'num' }, String(s.acknowledged)),
      el('td', { class: 'num' }, String(s.unacknowledged)),
      el('td', { class: 'num' }, q(s, 'time_to_first_page_seconds', 'p50')),
      el('td', { class: 'num' }, q(s, 'time_to_acknowledge_seconds', 'p50')),
      el('td', { class: 'num' }, q(s, 'time_to_acknowledge_seconds', 'p90')),
      el('td', { class: 'num' }, s.escalations_before_ack ? String(s.escalations_before_ack.total) : '–'),
      el('td', { class: 'num' }, String(s.pages)), el('td', { class: 'num' }, String(s.pages_out_of_hours))))))));
}
