// A strategy's page: figures, equity and price charts with the trades marked, the decision
// timeline (each decision opens to the analysts, the debate, the risk verdict and the orders),
// positions, orders, fills, LLM spend, backups, conditions, Events and replicas. Every number
// is the journal API's or the status's, shown as it came.
import { get, journal, onStrategy, chartsBuilt } from './api.js';
import { el, modeBadge, healthDot, percent } from './overview.js';

const money = (v) => (v === null || v === undefined ? '—' : Number(v).toFixed(2));
const when = (t) => (t ? new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');
const seconds = (t) => Math.floor(new Date(t).getTime() / 1000);

export function showStrategy(main, namespace, name, { ask }) {
  let row = null;
  const head = el('div', { class: 'head' });
  const controls = el('div', { class: 'controls', role: 'group', 'aria-label': 'Actions' });
  const body = el('div', { class: 'sections' }, el('p', { text: 'Loading…' }));
  main.append(el('p', {}, el('a', { href: '#/', text: '← All strategies' })), head, controls, body);

  const drawHead = () => {
    if (!row) return;
    head.replaceChildren(
      el('h1', {}, `${row.name} `, modeBadge(row)),
      el('p', { class: 'facts' },
        el('span', { id: 'phase', 'data-phase': row.phase || '' }, `Phase ${row.phase || '—'}`),
        ` · trading ${row.tradingState || '—'} · leader ${row.leader || 'none'} · `,
        `replicas ${row.readyReplicas}/${row.desiredReplicas} · P&L ${row.profitAndLoss || '—'} · `,
        healthDot(row.health)),
    );
    const button = (action, label, cls = '') => el('button', {
      type: 'button', class: cls, 'data-action': action, onclick: () => ask(row, action), text: label,
    });
    controls.replaceChildren(
      row.suspended ? button('resume', 'Resume') : button('suspend', 'Suspend', 'danger'),
      button('switchover', 'Switchover'), button('restart', 'Restart'),
      ...(row.hasBackup ? [button('backup', 'Back up now')] : []),
    );
  };
  const stop = onStrategy((kind, r) => {
    if (r.namespace === namespace && r.name === name && kind === 'strategy') { row = r; drawHead(); }
  });
  get(`/api/v1/strategies`).then((rows) => {
    row = rows.find((r) => r.namespace === namespace && r.name === name) || row;
    drawHead();
  }).catch(() => {});
  load(body, namespace, name);
  return stop;
}

async function load(body, namespace, name) {
  let view;
  try {
    view = await get(`/api/v1/strategies/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  } catch (error) {
    body.replaceChildren(el('p', { class: 'error', text: error.message }));
    return;
  }
  const runtime = view.runtime.answered;
  const sections = [];
  if (runtime) sections.push(figures(runtime.summary));
  else sections.push(section('Journal', el('p', { class: 'error', text: view.runtime.unavailable })));
  if (runtime) {
    const charts = section('Charts', el('p', { text: 'Loading the journal…' }));
    const timeline = section('Decisions', el('p', { text: 'Loading…' }));
    sections.push(charts, timeline, positions(runtime.summary.positions));
    const trades = section('Orders and fills', el('p', { text: 'Loading…' }));
    sections.push(trades, spend(runtime.llmSpend));
    drawCharts(charts, namespace, name);
    drawTimeline(timeline, namespace, name);
    drawTrades(trades, namespace, name);
  }
  sections.push(backups(view.strategy), conditions(view.strategy, view.warnings),
    replicas(view.replicas), unavailable(view.unavailable));
  body.replaceChildren(...sections.filter(Boolean));
}

function section(title, ...content) {
  const id = `s-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return el('section', { 'aria-labelledby': id }, el('h2', { id, text: title }), ...content);
}

function table(caption, headers, rows) {
  if (!rows.length) return el('p', { class: 'empty', text: `No ${caption.toLowerCase()}.` });
  return el('table', {},
    el('caption', { class: 'sr', text: caption }),
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, ...rows.map((cells) =>
      el('tr', {}, ...cells.map((c, i) => el('td', { 'data-label': headers[i] }, c ?? '—'))))));
}

function figures(s) {
  const items = [['Equity', money(s.equity)], ['Cash', money(s.cash)], ['P&L', money(s.profitAndLoss)],
    ['P&L today', money(s.profitAndLossToday)],
    ['Drawdown', percent(s.drawdown)], ['Trading state', s.tradingState], ['Answered by', s.role],
    ['Journal', `${s.journalBackend} v${s.journalSchemaVersion}`], ['Equity at', when(s.equityAt)]];
  return section('Figures', el('dl', { class: 'figures', id: 'figures' },
    ...items.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { 'data-figure': k, text: v })])));
}

function positions(list) {
  return section('Positions', table('Positions', ['Symbol', 'Quantity', 'Average price', 'Updated'],
    list.map((p) => [p.symbol, String(p.quantity), money(p.averagePrice), when(p.updatedAt)])));
}

function spend(list) {
  return section('LLM spend', table('LLM spend', ['Day', 'Provider', 'Calls', 'Tokens in/out', 'USD'],
    list.map((s) => [s.day, s.provider, String(s.calls), `${s.promptTokens}/${s.completionTokens}`,
      s.costUsd.toFixed(4)])));
}

function backups(strategy) {
  const st = strategy.status || {};
  if (!strategy.spec.backup) return section('Backups', el('p', { text: 'No spec.backup: this strategy is not backed up.' }));
  const last = st.lastBackup;
  return section('Backups', el('p', {},
    last ? `Last: ${last.name} at ${when(last.completionTime)}` : 'No backup yet.',
    st.nextScheduleTime ? ` · next ${when(st.nextScheduleTime)}` : '',
    st.lastBackupFailure ? ` · last failure: ${st.lastBackupFailure.message || ''}` : ''));
}

function conditions(strategy, warnings) {
  const list = (strategy.status && strategy.status.conditions) || [];
  return section('Conditions and Events',
    table('Conditions', ['Type', 'Status', 'Reason', 'Message'],
      list.map((c) => [c.type, c.status, c.reason, c.message])),
    table('Warning Events', ['Reason', 'Message', 'Count', 'Last seen'],
      warnings.map((w) => [w.reason, w.message, String(w.count), when(w.lastSeen)])));
}

function replicas(list) {
  return section('Replicas', table('Replicas', ['Pod', 'Role', 'Ready', 'Restarts', 'Started'],
    list.map((r) => [r.pod, r.leader ? 'leader' : 'standby', r.ready ? 'yes' : 'no',
      String(r.restarts), when(r.startedAt)])));
}

function unavailable(list) {
  if (!list.length) return null;
  return section('Not shown', el('ul', {}, ...list.map((t) => el('li', { class: 'error', text: t }))));
}

async function drawTrades(node, namespace, name) {
  try {
    const [orders, fills] = await Promise.all([journal(namespace, name, 'orders?limit=50'),
      journal(namespace, name, 'fills?limit=50')]);
    node.replaceChildren(node.firstChild,
      table('Orders', ['Created', 'Symbol', 'Side', 'Quantity', 'Reference', 'Status', 'Client order id'],
        orders.items.map((o) => [when(o.createdAt), o.symbol, o.side, String(o.quantity),
          money(o.referencePrice), o.status, o.clientOrderId])),
      table('Fills', ['Filled', 'Symbol', 'Side', 'Quantity', 'Price', 'Commission'],
        fills.items.map((f) => [when(f.filledAt), f.symbol, f.side, String(f.quantity),
          money(f.price), money(f.commission)])));
  } catch (error) {
    node.replaceChildren(node.firstChild, el('p', { class: 'error', text: error.message }));
  }
}

// The timeline: newest cycle first; a cycle opens to its decisions, fetched when opened.
async function drawTimeline(node, namespace, name) {
  let page;
  try { page = await journal(namespace, name, 'cycles?limit=30'); } catch (error) {
    node.replaceChildren(node.firstChild, el('p', { class: 'error', text: error.message }));
    return;
  }
  const items = page.items.map((cycle) => {
    const inner = el('div', { class: 'cycle-body' }, el('p', { text: 'Loading…' }));
    const item = el('details', { class: 'cycle', 'data-cycle': cycle.id },
      el('summary', {}, `${when(cycle.startedAt)} · ${cycle.status} · ${cycle.summary || ''}`), inner);
    item.addEventListener('toggle', () => {
      if (!item.open || item.dataset.loaded) return;
      item.dataset.loaded = 'yes';
      journal(namespace, name, `cycles/${encodeURIComponent(cycle.id)}`)
        .then((detail) => inner.replaceChildren(...detail.decisions.map(decision), events(detail.events)))
        .catch((error) => inner.replaceChildren(el('p', { class: 'error', text: error.message })));
    });
    return item;
  });
  node.replaceChildren(node.firstChild, items.length ? el('div', { class: 'timeline' }, ...items)
    : el('p', { class: 'empty', text: 'No cycles yet.' }));
  performance.mark('tp-strategy-timeline'); // for `make bench` (benches/dashboard.rs)
}

function decision(d) {
  const limits = d.risk.limits || []; // absent when empty (the contract skips it)
  const risk = limits.length ? `${d.risk.outcome} (${limits.join(', ')})` : d.risk.outcome;
  const analyst = (a) => el('li', { class: 'analyst', 'data-role': a.role },
    el('strong', { text: a.role }), ` ${a.signal} · confidence ${a.confidence.toFixed(2)} · ${a.source}`,
    a.costUsd !== undefined ? ` · $${a.costUsd.toFixed(4)}` : '',
    el('p', { class: 'rationale', text: a.rationale }));
  return el('article', { class: 'decision', 'data-symbol': d.symbol },
    el('h3', { text: `${d.symbol}: ${d.action} ${d.targetQuantity} (confidence ${d.confidence.toFixed(2)})` }),
    el('p', { class: 'rationale', text: d.rationale }),
    d.dataWindow ? el('p', { class: 'muted', text:
      `${d.dataWindow.barCount} bars ${d.dataWindow.timeframe || ''} to ${when(d.dataWindow.lastBarAt)}, last close ${money(d.dataWindow.lastClose)}` }) : null,
    el('h4', { text: 'Analysts' }), el('ul', { class: 'analysts' }, ...d.analysts.map(analyst)),
    d.debate ? el('div', { class: 'debate' }, el('h4', { text: 'Debate' }),
      el('p', { text: `${d.debate.signal} · confidence ${d.debate.confidence.toFixed(2)}` }),
      el('p', { class: 'rationale', text: d.debate.rationale })) : null,
    el('p', {}, el('strong', { text: 'Risk: ' }), risk),
    d.orders.length ? table('Orders of the decision', ['Order', 'Side', 'Quantity', 'Status', 'Fills'],
      d.orders.map((o) => [o.clientOrderId, o.side, String(o.quantity), o.status,
        (o.fills || []).map((f) => `${f.quantity} @ ${money(f.price)}`).join(', ') || 'none'])) : null);
}

function events(list) {
  if (!list.length) return el('span');
  return el('div', {}, el('h4', { text: 'Events' }),
    el('ul', {}, ...list.map((e) => el('li', { text: `${e.kind}: ${e.message}` }))));
}

// Charts: the equity series, and per symbol the closes the decisions saw with each filled
// order marked at its decision's bar (buys below, sells above). A table under each chart
// lists the same points for screen readers and keyboards.
async function drawCharts(node, namespace, name) {
  const title = node.firstChild;
  if (!chartsBuilt || !window.LightweightCharts) {
    node.replaceChildren(title, el('p', { class: 'error', text:
      'This build has no charting library: run `make ui-vendor` and build the plugin again.' }));
    return;
  }
  try {
    // One request each: the journal API's `chart` answers every close and trade of the
    // newest 200 cycles (it replaced one cycle-detail request per cycle).
    const [equity, marks] = await Promise.all([journal(namespace, name, 'equity?points=500'),
      journal(namespace, name, 'chart?cycles=200')]);
    node.replaceChildren(title, equityChart(equity.points), ...priceCharts(marks));
    performance.mark('tp-strategy-charts'); // for `make bench` (benches/dashboard.rs)
  } catch (error) {
    node.replaceChildren(title, el('p', { class: 'error', text: error.message }));
  }
}

// lightweight-charts needs strictly increasing times: sort, and keep the last per second.
function series(points) {
  const byTime = new Map();
  for (const p of points) byTime.set(p.time, p);
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

function chart(box) {
  return window.LightweightCharts.createChart(box, {
    autoSize: true,
    layout: { background: { color: 'transparent' }, textColor: '#333' },
    timeScale: { timeVisible: true },
  });
}

function equityChart(points) {
  const data = series(points.map((p) => ({ time: seconds(p.at), value: p.equity })));
  const box = el('div', { class: 'chart', id: 'equity-chart', 'data-points': String(data.length),
    role: 'img', 'aria-label': `Equity, ${data.length} points` });
  const figure = el('figure', {}, el('figcaption', { text: 'Equity' }), box);
  if (!data.length) { box.textContent = 'No equity snapshots yet.'; return figure; }
  queueMicrotask(() => chart(box).addLineSeries({ color: '#1f6feb' }).setData(data));
  return figure;
}

function priceCharts({ closes, trades }) {
  const bySymbol = new Map();
  const entry = (symbol) => {
    if (!bySymbol.has(symbol)) bySymbol.set(symbol, { closes: [], trades: [] });
    return bySymbol.get(symbol);
  };
  for (const c of closes) entry(c.symbol).closes.push({ time: seconds(c.barAt), value: c.close });
  for (const t of trades) {
    if (!t.barAt) continue; // its decision kept no bar to mark it at
    const f = t.fill;
    entry(f.symbol).trades.push({ time: seconds(t.barAt), side: f.side, quantity: f.quantity,
      price: f.price, order: f.clientOrderId });
  }
  return [...bySymbol.entries()].sort().map(([symbol, e]) => priceChart(symbol, e));
}

function priceChart(symbol, { closes, trades }) {
  const data = series(closes);
  trades.sort((a, b) => a.time - b.time);
  const box = el('div', { class: 'chart price-chart', 'data-symbol': symbol, 'data-points': String(data.length),
    'data-markers': String(trades.length), role: 'img', 'aria-label': `${symbol} price with ${trades.length} trades` });
  queueMicrotask(() => {
    const line = chart(box).addLineSeries({ color: '#444' });
    line.setData(data);
    line.setMarkers(trades.map((t) => ({
      time: t.time,
      position: t.side === 'buy' ? 'belowBar' : 'aboveBar',
      color: t.side === 'buy' ? '#1a7f37' : '#cf222e',
      shape: t.side === 'buy' ? 'arrowUp' : 'arrowDown',
      text: `${t.side} ${t.quantity} @ ${money(t.price)}`,
    })));
  });
  const list = table(`${symbol} trades`, ['Bar', 'Side', 'Quantity', 'Price', 'Order'],
    trades.map((t) => [when(t.time * 1000), t.side, String(t.quantity), money(t.price), t.order]));
  list.classList?.add('trades');
  return el('figure', {}, el('figcaption', { text: `${symbol}: closes seen by the decisions, trades marked` }), box,
    el('details', {}, el('summary', { text: `${trades.length} trades as a table` }), list));
}
