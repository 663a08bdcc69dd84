// The overview: every strategy in reach, one row each, kept live by the watch.
import { get, journal, onStrategy, enc } from './api.js';

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

const columns = ['Strategy', 'Mode', 'Phase', 'Trading', 'Leader', 'Replicas', 'P&L',
  'Drawdown', 'Last decision', 'Health', 'Kill switch'];

export function showOverview(main, { ask }) {
  const rows = new Map();
  const drawdowns = new Map();
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
    body.replaceChildren(...sorted.map((row) => line(row, drawdowns, ask)));
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
    const known = rows.has(key);
    rows.set(key, row);
    if (!known) loadDrawdown(row, drawdowns, render);
    render();
  };
  main.append(backtests());
  get('/api/v1/strategies').then((list) => list.forEach(upsert)).catch((error) => {
    empty.hidden = false;
    empty.textContent = `The strategies could not be listed: ${error.message}`;
  });
  return onStrategy((kind, row) => {
    if (kind === 'deleted') { rows.delete(`${row.namespace}/${row.name}`); render(); }
    else upsert(row);
  });
}

// Drawdown is the journal's (the status does not carry it); a runtime that does not answer
// leaves the cell saying so.
function loadDrawdown(row, drawdowns, render) {
  const key = `${row.namespace}/${row.name}`;
  journal(row.namespace, row.name, 'summary')
    .then((summary) => drawdowns.set(key, percent(summary.drawdown)))
    .catch(() => drawdowns.set(key, 'n/a'))
    .finally(render);
}

function line(row, drawdowns, ask) {
  const key = `${row.namespace}/${row.name}`;
  const href = `#/s/${enc(row.namespace)}/${enc(row.name)}`;
  const control = row.suspended
    ? el('button', { type: 'button', class: 'resume', onclick: () => ask(row, 'resume'), text: 'Resume' })
    : el('button', { type: 'button', class: 'danger suspend', onclick: () => ask(row, 'suspend'), text: 'Suspend' });
  control.setAttribute('aria-label', `${control.textContent} ${row.name}`);
  const cells = [
    el('a', { href, text: row.name }), modeBadge(row), row.phase || '—', row.tradingState || '—',
    row.leader || 'none', `${row.readyReplicas}/${row.desiredReplicas}`, row.profitAndLoss || '—',
    drawdowns.get(key) || '…',
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
