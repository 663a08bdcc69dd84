// The overview: every strategy in reach, one row each, kept live by the watch.
import { get, journal, onStrategy, enc } from './api.js';
import { pools, accounts } from './resources.js';

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function modeBadge(row) {
  if (!row.mode) return el('span', { class: 'badge', text: 'mode ?' });
  return el('span', { class: row.live ? 'badge live' : 'badge paper', text: row.live ? 'LIVE' : 'paper' });
}

export function healthDot(health) {
  const words = { ok: 'healthy', warn: 'attention', bad: 'failing' };
  return el('span', { class: `health ${health}`, 'data-health': health },
    el('span', { class: 'dot', 'aria-hidden': 'true' }), words[health] || health);
}

export function percent(fraction) {
  return fraction === null || fraction === undefined ? '—' : `${(fraction * 100).toFixed(2)}%`;
}

const columns = ['Strategy', 'Mode', 'Phase', 'Trading', 'Leader', 'Replicas', 'Equity',
  'P&L today', 'P&L', 'Drawdown', 'Last decision', 'Health', 'Kill switch'];

// How often a row's journal figures (drawdown, P&L today, the sparkline) are asked for again
// while its status keeps changing: each ask is two requests through the API server.
const JOURNAL_EVERY_MS = 30000;

export function showOverview(main, { ask }) {
  const rows = new Map();
  const figures = new Map();
  const body = el('tbody');
  const empty = el('p', { class: 'empty', text: 'Loading strategies…' });
  main.append(
    el('h1', { text: 'Strategies' }),
    empty,
    el('table', { class: 'overview', 'aria-label': 'Strategies' },
      el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { scope: 'col', text: c })))),
      body),
  );

  const render = () => {
    const sorted = [...rows.values()].sort((a, b) =>
      `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    empty.hidden = sorted.length > 0;
    empty.textContent = 'No strategies in reach.';
    // Rows are drawn again on every update; keep the keyboard's place.
    const focused = document.activeElement?.closest?.('tr[data-strategy]');
    const where = focused && document.activeElement.className;
    body.replaceChildren(...sorted.map((row) => line(row, figures, ask)));
    // The first useful paint, for `make bench` (benches/dashboard.rs).
    if (sorted.length && !performance.getEntriesByName('tp-overview-rows').length) {
      performance.mark('tp-overview-rows', { detail: sorted.length });
    }
    if (focused) {
      const again = body.querySelector(`tr[data-strategy="${CSS.escape(focused.dataset.strategy)}"]`);
      const target = again && [...again.querySelectorAll('a, button')].find((n) => n.className === where);
      (target || again?.querySelector('a'))?.focus();
    }
  };
  const upsert = (row) => {
    const key = `${row.namespace}/${row.name}`;
    rows.set(key, row);
    const asked = figures.get(key)?.askedAt ?? -Infinity;
    if (performance.now() - asked > JOURNAL_EVERY_MS) loadFigures(row, figures, render);
    render();
  };
  main.append(pools(), accounts(), backtests());
  get('/api/v1/strategies').then((list) => list.forEach(upsert)).catch((error) => {
    empty.hidden = false;
    empty.textContent = `The strategies could not be listed: ${error.message}`;
  });
  return onStrategy((kind, row) => {
    if (kind === 'deleted') { rows.delete(`${row.namespace}/${row.name}`); render(); }
    else upsert(row);
  });
}

// Drawdown, P&L today and the equity sparkline are the journal's (the status carries none
// of them); a runtime that does not answer leaves the cells saying so.
function loadFigures(row, figures, render) {
  const key = `${row.namespace}/${row.name}`;
  const known = figures.get(key) || {};
  figures.set(key, { ...known, askedAt: performance.now() });
  Promise.allSettled([
    journal(row.namespace, row.name, 'summary'),
    journal(row.namespace, row.name, 'equity?points=48'),
  ]).then(([summary, equity]) => {
    const ok = summary.status === 'fulfilled';
    figures.set(key, {
      askedAt: performance.now(),
      drawdown: ok ? percent(summary.value.drawdown) : 'n/a',
      today: ok ? signed(summary.value.profitAndLossToday) : 'n/a',
      points: equity.status === 'fulfilled' ? equity.value.points.map((p) => p.equity) : null,
    });
    render();
  });
}

function signed(value) {
  if (value === null || value === undefined) return '—';
  return `${value >= 0 ? '+' : ''}${value.toFixed(2)}`;
}

// A small equity line, green when it ends at or above where it began.
export function sparkline(values) {
  if (!values) return el('span', { class: 'muted', text: 'n/a' });
  if (values.length < 2) return el('span', { class: 'muted', text: '—' });
  const [w, h] = [96, 24];
  const low = Math.min(...values);
  const span = Math.max(...values) - low || 1;
  const points = values.map((v, i) =>
    `${((i / (values.length - 1)) * w).toFixed(1)},${(h - 1 - ((v - low) / span) * (h - 2)).toFixed(1)}`);
  const rising = values[values.length - 1] >= values[0];
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('class', `spark ${rising ? 'up' : 'down'}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `equity ${rising ? 'up' : 'down'} over ${values.length} points`);
  svg.dataset.points = String(values.length);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.append(line);
  return svg;
}

function line(row, figures, ask) {
  const key = `${row.namespace}/${row.name}`;
  const journalled = figures.get(key) || {};
  const href = `#/s/${enc(row.namespace)}/${enc(row.name)}`;
  const control = row.suspended
    ? el('button', { type: 'button', class: 'resume', onclick: () => ask(row, 'resume'), text: 'Resume' })
    : el('button', { type: 'button', class: 'danger suspend', onclick: () => ask(row, 'suspend'), text: 'Suspend' });
  control.setAttribute('aria-label', `${control.textContent} ${row.name}`);
  const cells = [
    el('a', { href, text: row.name }), modeBadge(row), row.phase || '—', row.tradingState || '—',
    row.leader || 'none', `${row.readyReplicas}/${row.desiredReplicas}`,
    'points' in journalled ? sparkline(journalled.points) : '…', journalled.today || '…',
    row.profitAndLoss || '—', journalled.drawdown || '…',
    row.lastDecision ? `${row.lastDecision}` : '—', healthDot(row.health), control,
  ];
  return el('tr', { 'data-strategy': key, 'data-phase': row.phase || '' },
    ...cells.map((cell, i) => el('td', { 'data-label': columns[i] }, cell)));
}

// The Backtests in reach, as `kubectl get bt` lists them; each opens to its runs and curve.
function backtests() {
  const headers = ['Backtest', 'Phase', 'Progress', 'Return', 'Sharpe', 'Max DD', 'Trades'];
  const body = el('tbody');
  const note = el('p', { class: 'empty', text: 'Loading backtests…' });
  const table = el('table', { class: 'overview backtests', 'aria-label': 'Backtests', hidden: true },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', text: h })))), body);
  const section = el('section', { 'aria-label': 'Backtests' }, el('h2', { text: 'Backtests' }), note, table);
  get('/api/v1/backtests').then((list) => {
    note.hidden = list.length > 0;
    table.hidden = list.length === 0;
    note.textContent = 'No backtests in reach.';
    body.replaceChildren(...list.map((b) => {
      const link = el('a', { href: `#/b/${enc(b.namespace)}/${enc(b.name)}`, text: b.name });
      const cells = [link, b.phase, b.progress, b.totalReturn, b.sharpe, b.maxDrawdown, b.trades];
      return el('tr', { 'data-backtest': `${b.namespace}/${b.name}` },
        ...cells.map((c, i) => el('td', { 'data-label': headers[i] }, c ?? '—')));
    }));
  }).catch((error) => { note.textContent = `The backtests could not be listed: ${error.message}`; });
  return section;
}
