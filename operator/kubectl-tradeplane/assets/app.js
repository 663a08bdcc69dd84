// The console: a hash router between the overview, a strategy's page and a Backtest's page,
// and the actions, each behind a confirmation that names the strategy and whether it trades
// real money.
import { act } from './api.js';
import { showOverview } from './overview.js';
import { showStrategy } from './strategy.js';
import { showBacktest } from './backtest.js';

const main = document.getElementById('main');
let leave = () => {};

function route() {
  leave();
  main.replaceChildren();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 's' && parts.length === 3) {
    leave = showStrategy(main, parts[1], parts[2], { ask });
  } else if (parts[0] === 'b' && (parts.length === 3 || parts.length === 4)) {
    leave = showBacktest(main, parts[1], parts[2], parts[3]);
  } else {
    leave = showOverview(main, { ask });
  }
}

const verbs = {
  suspend: 'Suspend trading of',
  resume: 'Resume trading of',
  restart: 'Restart the runtime pods of',
  switchover: 'Hand the leadership to a standby of',
  backup: 'Take a backup now of',
};

// Asks, then acts; resolves once the operator has confirmed (or the action failed).
export async function ask(row, action) {
  const dialog = document.getElementById('confirm');
  const money = row.live ? 'a LIVE strategy trading real money' : 'a paper strategy';
  document.getElementById('confirm-title').textContent = `${verbs[action]} ${row.name}?`;
  document.getElementById('confirm-text').textContent =
    `${row.namespace}/${row.name} is ${money}. This changes its spec as you (your RBAC applies).`;
  dialog.dataset.live = row.live ? 'yes' : 'no';
  const ok = document.getElementById('confirm-ok');
  ok.textContent = `${action[0].toUpperCase()}${action.slice(1)} ${row.name}`;
  dialog.returnValue = '';
  dialog.showModal();
  document.getElementById('confirm-cancel').focus();
  const answer = await new Promise((resolve) =>
    dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
  if (answer !== 'ok') return;
  notice(`${action}: waiting for the operator to confirm on ${row.name}…`, 'pending');
  try {
    const done = await act(row.namespace, row.name, action);
    notice(`${action} ${row.name}: ${done.message}`, 'ok');
  } catch (error) {
    notice(`${action} ${row.name} refused: ${error.message}`, 'error');
  }
}

export function notice(text, kind) {
  const box = document.getElementById('notice');
  box.textContent = text;
  box.dataset.kind = kind;
}

window.addEventListener('hashchange', route);
route();
