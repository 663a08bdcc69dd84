// A Backtest's page: its runs from the status (the best first, every run below), and the
// chosen run's equity curve against buy-and-hold over the same bars, from the results
// artifact the run itself wrote. Every number is the status's or the artifact's, as it came.
import { get, enc, chartsBuilt } from './api.js';
import { el, percent } from './overview.js';

const fixed = (v, digits = 2) => (v === null || v === undefined ? '—' : Number(v).toFixed(digits));
const seconds = (t) => Math.floor(new Date(t).getTime() / 1000);
const params = (p) => Object.entries(p || {}).map(([k, v]) => `${k}=${v}`).join(' ') || '—';

export function showBacktest(main, namespace, name, run) {
  const body = el('div', { class: 'sections' }, el('p', { text: 'Loading…' }));
  main.append(el('p', {}, el('a', { href: '#/', text: '← Overview' })),
    el('h1', { text: `Backtest ${name}` }), body);
  const query = run === undefined ? '' : `?run=${enc(run)}`;
  get(`/api/v1/backtests/${enc(namespace)}/${enc(name)}${query}`)
    .then((doc) => body.replaceChildren(...sections(namespace, name, doc)))
    .catch((error) => body.replaceChildren(el('p', { class: 'error', text: error.message })));
  return () => {};
}

function sections(namespace, name, doc) {
  const status = doc.status || {};
  const figures = el('dl', { class: 'figures' },
    ...[['Phase', status.phase], ['Progress', status.progress], ['Return', status.totalReturn],
      ['Sharpe', status.sharpe], ['Max DD', status.maxDrawdown], ['Trades', status.trades]]
      .flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { 'data-figure': k, text: v ?? '—' })]));
  return [
    el('section', {}, figures),
    el('section', {}, curve(doc)),
    el('section', {}, runsTable(namespace, name, status, doc.run)),
  ];
}

// The run's equity and buy-and-hold as two lines on one chart, with the same points in a
// table for screen readers and keyboards.
function curve(doc) {
  const title = el('h2', { text: doc.run === null || doc.run === undefined ? 'Equity' : `Equity of run ${doc.run}` });
  const results = doc.results;
  if (!results) return el('div', {}, title, el('p', { text: doc.resultsError || 'No run to show yet.' }));
  const points = dedupe(results.equity.map((p) => ({ time: seconds(p.time), equity: p.equity, hold: p.buyAndHold })));
  const box = el('div', { class: 'chart', id: 'backtest-chart', 'data-points': String(points.length),
    'data-final-equity': String(results.finalEquity), role: 'img',
    'aria-label': `Equity against buy-and-hold, ${points.length} points` });
  const legend = el('p', { class: 'legend' }, el('span', { class: 'swatch strategy', text: 'strategy' }), ' ',
    el('span', { class: 'swatch hold', text: 'buy-and-hold' }));
  if (!chartsBuilt || !window.LightweightCharts) {
    box.textContent = 'This build has no charting library: run `make ui-vendor` and build the plugin again.';
  } else {
    queueMicrotask(() => {
      const chart = window.LightweightCharts.createChart(box, {
        autoSize: true, layout: { background: { color: 'transparent' }, textColor: '#333' },
      });
      chart.addLineSeries({ color: '#1f6feb', title: 'strategy' })
        .setData(points.map((p) => ({ time: p.time, value: p.equity })));
      chart.addLineSeries({ color: '#8c959f', title: 'buy-and-hold' })
        .setData(points.map((p) => ({ time: p.time, value: p.hold })));
    });
  }
  const rows = points.map((p) => [new Date(p.time * 1000).toISOString().slice(0, 10), fixed(p.equity), fixed(p.hold)]);
  return el('figure', {}, title, box, legend,
    el('details', {}, el('summary', { text: `${points.length} points as a table` }),
      table('Equity points', ['Bar', 'Equity', 'Buy-and-hold'], rows)));
}

// lightweight-charts needs strictly increasing times: keep the last point per second.
function dedupe(points) {
  const byTime = new Map();
  for (const p of points) byTime.set(p.time, p);
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

function runsTable(namespace, name, status, shown) {
  const best = new Map((status.bestRuns || []).map((b, rank) => [b.index, { rank: rank + 1, params: b.params }]));
  const runs = [...(status.runs || [])].sort((a, b) => a.index - b.index);
  const headers = ['Run', 'Rank', 'Point', 'Phase', 'Return', 'Sharpe', 'Max DD', 'Trades', 'Buy & hold'];
  const body = el('tbody', {}, ...runs.map((r) => {
    const s = r.stats || {};
    const link = el('a', { href: `#/b/${enc(namespace)}/${enc(name)}/${r.index}`, text: String(r.index) });
    const cells = [link, best.get(r.index)?.rank ?? '', params(r.params || best.get(r.index)?.params), r.phase,
      percent(s.totalReturn), fixed(s.sharpe), percent(s.maxDrawdown), s.trades ?? '—', percent(s.buyAndHoldReturn)];
    return el('tr', { 'data-run': String(r.index), 'aria-current': r.index === shown ? 'true' : null },
      ...cells.map((c, i) => el('td', { 'data-label': headers[i] }, c)));
  }));
  return el('div', {}, el('h2', { text: `Runs (${runs.length})` }),
    el('table', { class: 'runs', 'aria-label': 'Runs' },
      el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', text: h })))), body));
}

function table(label, headers, rows) {
  return el('table', { 'aria-label': label },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, ...rows.map((cells) => el('tr', {}, ...cells.map((c) => el('td', { text: c }))))));
}
