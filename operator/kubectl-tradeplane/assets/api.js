// The console's own API: reads, the live feed, and actions (which carry the page's token).

const token = document.querySelector('meta[name="tradeplane-token"]').content;
export const chartsBuilt = document.querySelector('meta[name="tradeplane-charts"]').content === 'yes';

// A failure's sentence: the console answers {message}, with the API server's own words
// when it refused.
async function failure(response) {
  try {
    const body = await response.json();
    return new Error(body.message || `${response.status} ${response.statusText}`);
  } catch {
    return new Error(`${response.status} ${response.statusText}`);
  }
}

export async function get(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' } });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function act(namespace, name, action) {
  const path = `/api/v1/strategies/${enc(namespace)}/${enc(name)}/actions/${action}`;
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'X-Tradeplane-Token': token, Accept: 'application/json' },
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export function journal(namespace, name, endpoint) {
  return get(`/api/v1/strategies/${enc(namespace)}/${enc(name)}/journal/${endpoint}`);
}

export const enc = encodeURIComponent;

// One EventSource for the page. Strategy listeners get every strategy row the watch pushes;
// a pool or account listener gets its kind's events as ('changed' | 'deleted' | 'synced' |
// 'failure', data).
const listeners = new Set();
const resourceListeners = { pool: new Set(), account: new Set() };
let source;
export function onStrategy(listener) {
  listeners.add(listener);
  if (!source) open();
  return () => listeners.delete(listener);
}

export function onResource(kind, listener) {
  resourceListeners[kind].add(listener);
  if (!source) open();
  return () => resourceListeners[kind].delete(listener);
}

// A browser allows six connections to the console, and the stream holds one for as long as
// the page lives, including while the page sits in the back/forward cache after the user
// (or a test) navigated away: five such pages starved every later page's requests until the
// browser evicted them, about a minute. So the stream is closed when the page is hidden and
// opened again if it comes back.
window.addEventListener('pagehide', () => {
  if (source) { source.close(); source = null; }
});
window.addEventListener('pageshow', (event) => {
  const any = listeners.size || Object.values(resourceListeners).some((set) => set.size);
  if (event.persisted && any && !source) open();
});

function open() {
  const feed = document.getElementById('feed');
  source = new EventSource('/api/v1/events');
  source.onopen = () => { feed.textContent = 'live'; feed.dataset.state = 'live'; };
  source.onerror = () => { feed.textContent = 'reconnecting…'; feed.dataset.state = 'down'; };
  for (const kind of ['strategy', 'deleted']) {
    source.addEventListener(kind, (event) => {
      const row = JSON.parse(event.data);
      for (const listener of listeners) listener(kind, row);
    });
  }
  for (const [kind, set] of Object.entries(resourceListeners)) {
    for (const [suffix, what] of [['', 'changed'], ['-deleted', 'deleted'], ['-synced', 'synced'], ['-failure', 'failure']]) {
      source.addEventListener(`${kind}${suffix}`, (event) => {
        const data = JSON.parse(event.data);
        for (const listener of set) listener(what, data);
      });
    }
  }
  source.addEventListener('failure', (event) => {
    feed.textContent = JSON.parse(event.data).message;
    feed.dataset.state = 'down';
  });
}
