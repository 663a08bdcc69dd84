// The overview's AgentPools and BrokerAccounts, as `kubectl get ap,ba` list them, kept live
// by the console's watches on both kinds.
import { onResource } from './api.js';
import { el, healthDot } from './overview.js';

export function pools() {
  const headers = ['Agent pool', 'Phase', 'Workers', 'Autoscaling', 'Strategies', 'LLM spend today', 'Health'];
  return section('pool', 'Agent pools', headers, (p) => [
    p.name, p.phase || '—', `${p.readyReplicas}/${p.desiredReplicas}`, p.autoscaling || 'off',
    String(p.strategies), spend(p.spend), withReason(p),
  ]);
}

export function accounts() {
  const headers = ['Broker account', 'Phase', 'Broker', 'Environment', 'Verified', 'Equity', 'Strategies', 'Health'];
  return section('account', 'Broker accounts', headers, (a) => [
    a.name, a.phase || '—', a.broker,
    el('span', { class: a.live ? 'badge live' : 'badge paper', text: a.live ? 'LIVE' : (a.environment || '?') }),
    verified(a), a.equity || '—', String(a.strategies), withReason(a),
  ]);
}

// A table of one kind's rows; hidden, with a sentence instead, while there are none.
function section(kind, title, headers, cells) {
  const rows = new Map();
  const body = el('tbody');
  const note = el('p', { class: 'empty', text: `Loading ${title.toLowerCase()}…` });
  const table = el('table', { class: `overview ${kind}s`, 'aria-label': title, hidden: true },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', text: h })))), body);
  const render = () => {
    const sorted = [...rows.values()].sort((a, b) =>
      `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    table.hidden = sorted.length === 0;
    note.hidden = sorted.length > 0;
    body.replaceChildren(...sorted.map((r) => el('tr', { [`data-${kind}`]: `${r.namespace}/${r.name}` },
      ...cells(r).map((c, i) => el('td', { 'data-label': headers[i] }, c)))));
  };
  onResource(kind, (what, data) => {
    if (what === 'failure') { note.hidden = false; note.textContent = data.message; return; }
    if (what === 'synced') { note.textContent = `No ${title.toLowerCase()} in reach.`; render(); return; }
    const key = `${data.namespace}/${data.name}`;
    if (what === 'deleted') rows.delete(key); else rows.set(key, data);
    render();
  });
  return el('section', { 'aria-label': title }, el('h2', { text: title }), note, table);
}

function spend(list) {
  if (!list.length) return '—';
  return list.map((s) => `${s.provider} $${s.spentUsd.toFixed(2)}${s.budgetUsd == null ? '' : ` / $${s.budgetUsd.toFixed(2)}`}`).join(', ');
}

function verified(account) {
  if (account.broker === 'Paper') return 'simulated';
  if (account.verified === null || account.verified === undefined) return 'not yet';
  return account.verified ? 'yes' : el('span', { class: 'error', text: 'refused' });
}

function withReason(row) {
  const dot = healthDot(row.health);
  if (row.reason) dot.title = row.reason;
  return row.reason && row.health !== 'ok' ? el('span', {}, dot, el('span', { class: 'muted', text: ` ${row.reason}` })) : dot;
}
