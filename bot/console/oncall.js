// On call: who is on call now for every schedule, and 14 days of each
// schedule (its layers, overrides and the final result) drawn in the viewer's
// time zone. Each day is one column from local midnight to local midnight,
// positions are wall-clock times, so a 09:00 handoff is at 09:00 also on a 23-
// or 25-hour day (a DST change), which is marked.
import {
  api, el, session, toast, formatTime, localStamp, personName, localMidnight, todayIso, viewerZone,
} from './util.js';

const DAYS = 14;
const W = 1000, LEFT = 96, ROW = 28, TOP = 34;

export async function oncallPage(main) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const startInput = el('input', { type: 'date', id: 'oncall-start', value: params.get('start') || todayIso(), required: true });
  const nowGrid = el('div', { class: 'now-grid', id: 'oncall-now' });
  const schedules = el('div', { id: 'oncall-schedules' });
  main.append(
    el('h1', {}, 'On call'),
    el('h2', {}, 'Now'), nowGrid,
    el('div', { class: 'filters' },
      el('label', {}, 'First day', startInput),
      el('span', { class: 'muted' }, `${DAYS} days, shown in your time zone (${viewerZone()})`)),
    schedules);
  startInput.addEventListener('change', () => { if (startInput.value) drawAll(); });

  async function drawNow() {
    try {
      const r = (await api('GET', '/api/v1/oncall')).body;
      nowGrid.replaceChildren(...r.oncall.map((e) => el('div', { class: 'now-card', dataset: { schedule: e.schedule } },
        el('div', { class: 'muted' }, e.schedule_name || e.schedule),
        el('div', { class: 'person' }, e.person ? e.person.name : 'Nobody'),
        el('div', { class: 'muted' }, e.until ? `until ${formatTime(e.until)}` : 'no handoff ahead'))));
    } catch (e) {
      nowGrid.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  }

  async function drawAll() {
    const from = localMidnight(startInput.value);
    const to = localMidnight(startInput.value, DAYS);
    schedules.replaceChildren(...session.schedules.map((s) => el('section', { class: 'panel', id: `schedule-${s.id}`, dataset: { schedule: s.id } },
      el('h2', {}, s.name), el('p', { class: 'muted' }, 'Loading…'))));
    await Promise.all(session.schedules.map((s) => drawSchedule(s, from, to)));
  }

  async function drawSchedule(s, from, to) {
    const box = document.getElementById(`schedule-${s.id}`);
    let t;
    try {
      t = (await api('GET', `/api/v1/schedules/${encodeURIComponent(s.id)}/timeline?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`)).body;
    } catch (e) {
      box.replaceChildren(el('h2', {}, s.name), el('p', { class: 'error' }, e.message));
      return;
    }
    box.replaceChildren(
      el('h2', {}, t.name, el('span', { class: 'muted' }, ` · hand-offs in ${t.time_zone}`)),
      chart(t, from),
      handoffs(t),
      coverForm(s, from));
  }

  await drawNow();
  await drawAll();
  const timer = setInterval(drawNow, 30000);
  return () => clearInterval(timer);
}

/// The local days of the window: [start, end) instants and their length in hours.
function days(from) {
  const out = [];
  const first = localStamp(from).slice(0, 10);
  for (let d = 0; d < DAYS; d++) {
    const start = localMidnight(first, d), end = localMidnight(first, d + 1);
    out.push({ start, end, hours: Math.round((end - start) / 36e5) });
  }
  return out;
}

function chart(t, from) {
  const ds = days(from);
  const dayW = (W - LEFT) / DAYS;
  // Wall-clock position: 09:00 is at 9/24 of its day's column on every day, a
  // 23- or 25-hour day included (as a calendar shows it).
  const x = (iso) => {
    const ms = new Date(iso).getTime();
    if (ms <= ds[0].start.getTime()) return LEFT;
    for (let k = 0; k < ds.length; k++) {
      if (ms < ds[k].end.getTime()) {
        const [hh, mm] = localStamp(new Date(ms)).slice(11).split(':').map(Number);
        return LEFT + k * dayW + ((hh * 60 + mm) / 1440) * dayW;
      }
    }
    return W;
  };
  const rows = [...t.layers.map((l) => ({ label: l.name, shifts: l.shifts, kind: 'layer' })),
    { label: 'Overrides', shifts: t.overrides.map((o) => ({ ...o, source: 'override' })), kind: 'override' },
    { label: 'On call', shifts: t.final, kind: 'final' }];
  const H = TOP + rows.length * ROW + 8;
  const colour = (person) => `p${Math.max(0, session.people.findIndex((p) => p.id === person)) % 6}`;
  const fmtDay = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric' });
  const fmtMonth = new Intl.DateTimeFormat(undefined, { month: 'short' });
  const svg = el('svg', { class: 'chart plot timeline-chart', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `${t.name}: ${DAYS} days from ${localStamp(from).slice(0, 10)}; the table below lists the same hand-offs` });
  ds.forEach((d, k) => {
    const x0 = LEFT + k * dayW;
    svg.append(el('line', { class: 'axis', x1: x0, x2: x0, y1: 4, y2: H - 4 }));
    svg.append(el('text', { class: 'daylabel', x: x0 + 3, y: 14 }, fmtDay.format(d.start)));
    if (d.hours !== 24) {
      svg.append(el('text', { class: 'dst', x: x0 + 3, y: 28, dataset: { dstDay: localStamp(d.start).slice(0, 10), hours: d.hours } },
        el('title', {}, `Clocks change this day: it has ${d.hours} hours`), `⚠ ${d.hours} h`));
    } else if (k === 0 || d.start.getDate() === 1) {
      svg.append(el('text', { class: 'daylabel', x: x0 + 3, y: 28 }, fmtMonth.format(d.start)));
    }
  });
  rows.forEach((row, r) => {
    const y = TOP + r * ROW;
    svg.append(el('text', { class: 'rowlabel', x: 4, y: y + ROW / 2 + 4 }, row.label.length > 13 ? `${row.label.slice(0, 12)}…` : row.label));
    for (const s of row.shifts) {
      const x0 = x(s.start), x1 = x(s.end);
      if (x1 - x0 < 0.5) continue;
      const who = s.person ? (s.person_name || personName(s.person)) : 'Nobody';
      const cls = !s.person ? 'shift shift-gap' : row.kind === 'override' ? 'shift shift-override' : `shift ${colour(s.person)}`;
      const g = el('g', { class: row.kind === 'final' ? 'final-shift' : undefined,
        dataset: { person: s.person || '', startLocal: localStamp(new Date(s.start)), endLocal: localStamp(new Date(s.end)), source: s.source || '' } },
        el('title', {}, `${who} (${row.kind === 'override' ? 'override' : s.source || row.label}): ${formatTime(s.start)} → ${formatTime(s.end)}`),
        el('rect', { class: cls, x: x0, y: y + 3, width: x1 - x0, height: ROW - 6, rx: 3 }));
      if (x1 - x0 > 34 && s.person) g.append(el('text', { class: 'shift-label', x: x0 + 4, y: y + ROW / 2 + 4 }, who.length > (x1 - x0) / 7 ? `${who.slice(0, Math.max(1, Math.floor((x1 - x0) / 7) - 1))}…` : who));
      svg.append(g);
    }
  });
  const now = Date.now();
  if (now > ds[0].start.getTime() && now < ds[DAYS - 1].end.getTime()) {
    const xn = x(new Date(now).toISOString());
    svg.append(el('line', { class: 'nowline', x1: xn, x2: xn, y1: TOP - 4, y2: H - 4 }, el('title', {}, 'Now')));
  }
  return el('div', { class: 'scroll' }, svg);
}

function handoffs(t) {
  return el('details', { class: 'handoffs' },
    el('summary', {}, `Hand-offs (${t.final.length} shifts, your time zone)`),
    el('div', { class: 'scroll' }, el('table', { id: `handoffs-${t.schedule}` },
      el('thead', {}, el('tr', {}, ['From', 'To', 'On call', 'Why'].map((h) => el('th', {}, h)))),
      el('tbody', {}, t.final.map((s) => el('tr', { dataset: { startLocal: localStamp(new Date(s.start)), person: s.person || '' } },
        el('td', {}, formatTime(s.start)), el('td', {}, formatTime(s.end)),
        el('td', {}, s.person ? (s.person_name || personName(s.person)) : 'Nobody'),
        el('td', {}, s.source === 'override' ? 'override' : `layer ${s.source}`)))))));
}

function coverForm(s, from) {
  const local = (d) => localStamp(d);
  const start = el('input', { type: 'datetime-local', name: 'start', required: true, value: local(new Date(Math.max(Date.now(), from.getTime()))) });
  const end = el('input', { type: 'datetime-local', name: 'end', required: true, value: local(new Date(Math.max(Date.now(), from.getTime()) + 8 * 36e5)) });
  const who = el('select', { name: 'person' }, session.people.map((p) => el('option', { value: p.id, selected: p.id === session.person.id }, p.name)));
  const form = el('form', { class: 'cover', dataset: { schedule: s.id } },
    el('label', {}, 'From', start), el('label', {}, 'To', end), el('label', {}, 'Who', who),
    el('button', { type: 'submit', class: 'primary' }, 'I\'ll cover'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const a = new Date(start.value), b = new Date(end.value);
    if (!(a < b)) return toast('The end must be after the start.');
    try {
      await api('POST', `/api/v1/schedules/${encodeURIComponent(s.id)}/overrides`,
        { body: { person: who.value, start: a.toISOString(), end: b.toISOString() } });
      toast(`${personName(who.value)} covers ${s.name} from ${formatTime(a.toISOString())}`);
      document.getElementById('oncall-start').dispatchEvent(new Event('change'));
    } catch (e) {
      toast(`Not added: ${e.message}`);
    }
  });
  return el('details', {}, el('summary', {}, 'Add an override ("I\'ll cover")'), form);
}
