// Small hand-written SVG charts. Series differ by colour AND by dash pattern
// and marker shape, and every chart has a text legend and a table beside it.
import { el } from './util.js';

const W = 520, H = 260, L = 56, R = 16, T = 14, B = 36;
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'circle', 'square'];

function marker(kind, x, y, cls) {
  const r = 3.5;
  if (kind === 'circle') return el('circle', { class: cls, cx: x, cy: y, r });
  if (kind === 'square') return el('rect', { class: cls, x: x - r, y: y - r, width: 2 * r, height: 2 * r });
  if (kind === 'triangle') return el('path', { class: cls, d: `M${x} ${y - r - 1}L${x + r + 1} ${y + r}L${x - r - 1} ${y + r}Z` });
  return el('path', { class: cls, d: `M${x} ${y - r - 1}L${x + r + 1} ${y}L${x} ${y + r + 1}L${x - r - 1} ${y}Z` });
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/// Lines over days: series = [{label, points: [{x: label, y: number|null}]}]; gaps where y is null.
export function lineChart({ title, series, format, id }) {
  const xs = series.length ? series[0].points.map((p) => p.x) : [];
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.y ?? 0))));
  const px = (i) => L + (xs.length <= 1 ? 0 : (i / (xs.length - 1)) * (W - L - R));
  const py = (v) => T + (1 - v / max) * (H - T - B);
  const svg = el('svg', { class: 'chart plot', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}; the table below has the values`, id });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg.append(el('line', { class: 'grid', x1: L, x2: W - R, y1: py(v), y2: py(v) }),
      el('text', { x: L - 6, y: py(v) + 4, 'text-anchor': 'end' }, format(v)));
  }
  const step = Math.max(1, Math.ceil(xs.length / 8));
  xs.forEach((x, i) => { if (i % step === 0) svg.append(el('text', { x: px(i), y: H - B + 16, 'text-anchor': 'middle' }, x.slice(5))); });
  series.forEach((s, n) => {
    const cls = `l${n % 6}`;
    let d = '';
    s.points.forEach((p, i) => {
      if (p.y === null || p.y === undefined) { d += ' '; return; }
      d += `${d.endsWith(' ') || !d ? 'M' : 'L'}${px(i).toFixed(1)} ${py(p.y).toFixed(1)}`;
    });
    svg.append(el('path', { class: `line ${cls} d${n % 4}`, d: d.trim() }));
    s.points.forEach((p, i) => {
      if (p.y === null || p.y === undefined) return;
      const m = marker(MARKERS[n % MARKERS.length], px(i), py(p.y), cls);
      m.append(el('title', {}, `${s.label}, ${p.x}: ${format(p.y)}`));
      svg.append(m);
    });
  });
  return el('figure', { class: 'panel' }, el('figcaption', {}, el('strong', {}, title)), legend(series.map((s) => s.label)), svg);
}

function legend(labels) {
  return el('ul', { class: 'legend' }, labels.map((label, n) => el('li', {},
    el('svg', { width: 34, height: 12, viewBox: '0 0 34 12', 'aria-hidden': 'true', class: 'chart' },
      el('line', { class: `line l${n % 6} d${n % 4}`, x1: 1, x2: 33, y1: 6, y2: 6 }), marker(MARKERS[n % MARKERS.length], 17, 6, `l${n % 6}`)),
    ' ', label)));
}

/// Horizontal bars: rows = [{label, parts: [{value, cls, name}]}]; each part's value is written on the bar.
export function barChart({ title, rows, partsLegend, id }) {
  const rowH = 26;
  const h = T + rows.length * rowH + 10;
  const labelW = 110;
  const max = niceMax(Math.max(0, ...rows.map((r) => r.parts.reduce((a, p) => a + p.value, 0))));
  const svg = el('svg', { class: 'chart plot', viewBox: `0 0 ${W} ${h}`, role: 'img', 'aria-label': `${title}; the table below has the values`, id });
  rows.forEach((r, i) => {
    const y = T + i * rowH;
    svg.append(el('text', { x: labelW - 6, y: y + rowH / 2 + 2, 'text-anchor': 'end' }, r.label.length > 18 ? `${r.label.slice(0, 17)}…` : r.label));
    let x = labelW;
    for (const p of r.parts) {
      const w = (p.value / max) * (W - labelW - R - 150);
      if (w > 0) {
        svg.append(el('rect', { class: p.cls, x, y: y + 3, width: w, height: rowH - 8 }, el('title', {}, `${r.label}: ${p.value} ${p.name}`)));
        x += w;
      }
    }
    svg.append(el('text', { x: x + 4, y: y + rowH / 2 + 2 }, r.parts.map((p) => `${p.value}${r.parts.length > 1 ? ` ${p.name}` : ''}`).join(' + ')));
  });
  return el('figure', { class: 'panel' }, el('figcaption', {}, el('strong', {}, title)),
    partsLegend ? el('ul', { class: 'legend' }, partsLegend.map((p) => el('li', {},
      el('svg', { width: 14, height: 12, 'aria-hidden': 'true', class: 'chart' }, el('rect', { class: p.cls, x: 0, y: 0, width: 14, height: 12 })), ' ', p.name))) : '',
    svg);
}
