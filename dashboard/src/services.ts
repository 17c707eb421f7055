// Wires the long-lived services: session, REST client, live stores and
// WebSocket. Signing in starts the socket (subscribed to all hosts) and
// loads /api/hosts and /api/alerts; signing out stops it and empties the
// stores. A reconnect refetches both; a frame for an unknown host refetches
// /api/hosts; `alert` frames go to the alerts store, `action` frames to the
// actions store (a reconnect tells it frames may have been missed). The WebSocket itself
// runs in a worker (live/channel.ts) when the browser has workers, else on
// the page.
import { ActionsStore } from './actions/store';
import { ApiClient, ApiError, orNullOn404 } from './api/client';
import { Session } from './api/session';
import type { AppServices } from './context';
import { AlertsStore } from './live/alerts';
import { FallbackConnection, WorkerSocket, type PagePort } from './live/channel';
import { LiveSocket, socketUrl, type LiveConnection, type SocketState } from './live/socket';
import { HostsStore } from './live/store';
import { mapLimit } from './util';

/** Hosts beyond this count are not fetched one by one at load (the live stream fills them in). */
export const SEED_LIMIT = 50;

/** The socket worker, or null where workers are missing or refused (then the socket runs on the page). */
function startSocketWorker(): (PagePort & Pick<Worker, 'addEventListener' | 'terminate'>) | null {
  if (typeof Worker === 'undefined') return null;
  try {
    const worker = new Worker(new URL('./live/worker.ts', import.meta.url), { type: 'module', name: 'vigil-live' });
    return worker as unknown as PagePort & Pick<Worker, 'addEventListener' | 'terminate'>;
  } catch {
    return null;
  }
}

export function createServices(): AppServices {
  const session = new Session();
  const api = new ApiClient(session);
  let reloadTimer: ReturnType<typeof setTimeout> | null = null;
  const store = new HostsStore(undefined, () => {
    if (reloadTimer) return;
    reloadTimer = setTimeout(() => {
      reloadTimer = null;
      void reloadHosts();
    }, 2000);
  });
  const alerts = new AlertsStore();
  const actions = new ActionsStore();
  // alert and action frames bypass the per-host coalescing: every one reaches its store
  store.subscribeEvents((msg) => {
    if (msg.type === 'alert') alerts.applyFrame(msg);
    else actions.applyFrame(msg);
  });

  let state: SocketState = 'idle';
  const stateListeners = new Set<(s: SocketState) => void>();
  const url = async () => {
    const token = await api.freshAccessToken();
    return token ? socketUrl(location, token) : null;
  };
  const onState = (s: SocketState) => {
    state = s;
    for (const fn of stateListeners) fn(s);
  };
  const onReconnect = () => {
    void reloadHosts();
    void reloadAlerts();
    actions.resync();
  };
  // The socket lives in a worker when the browser has them: the main thread
  // then gets one batch per 16 ms instead of every WebSocket message.
  const pageSocket = () =>
    new LiveSocket({ url, onMessage: (m) => store.enqueue(m), onText: (text) => store.enqueueText(text), onState, onReconnect });
  const worker = startSocketWorker();
  let socket: LiveConnection;
  if (worker) {
    const connection = new FallbackConnection(
      new WorkerSocket(worker, { url, onFrames: (frames) => store.enqueueAll(frames), onState, onReconnect }),
      pageSocket,
    );
    // the worker's script failed to load or run: the socket moves to the page
    worker.addEventListener('error', () => {
      worker.terminate();
      connection.fallBack();
    });
    socket = connection;
  } else {
    socket = pageSocket();
  }

  let containersApi = true;
  async function seed(ids: string[]): Promise<void> {
    await mapLimit(ids, 4, async (id) => {
      const h = store.get(id);
      if (h && h.live.timestamp === null) {
        const detail = await orNullOn404(() => api.host(id)).catch(() => null);
        if (detail) store.upsertHost(detail);
      }
      if (containersApi && h && h.live.containers === null) {
        const [containers, services] = await Promise.all([
          api.hostContainers(id).catch(() => null),
          api.hostServices(id).catch(() => null),
        ]);
        if (containers === null) containersApi = false;
        else {
          store.setContainers(
            id,
            containers.map((c) => ({ name: c.name, cpu: c.cpu_percent, memory: c.memory_percent, status: c.status })),
            services ? services.length : null,
          );
        }
      }
    });
  }

  async function reloadHosts(): Promise<void> {
    if (!session.current) return;
    try {
      const list = await api.hosts();
      store.setHosts(list);
      if (list.length <= SEED_LIMIT) void seed(list.map((d) => d.host.id));
    } catch {
      // a failed reload keeps what is on screen; the next reconnect retries
    }
  }

  async function reloadAlerts(): Promise<void> {
    if (!session.current) return;
    const since = alerts.beginLoad();
    try {
      alerts.setActive(await api.activeAlerts(), since);
    } catch (e) {
      // 404: this server has no alerting; a failed reload keeps what is on screen
      alerts.loadFailed(e instanceof ApiError && e.status === 404, e instanceof Error ? e.message : String(e));
    }
  }

  let active = false;
  const sync = () => {
    if (session.current && !active) {
      active = true;
      socket.subscribe();
      socket.start();
      void reloadHosts();
      void reloadAlerts();
    } else if (!session.current && active) {
      active = false;
      socket.stop();
      store.setHosts([]);
      store.loaded = false;
      alerts.clear();
      actions.clear();
    }
  };
  session.subscribe(sync);
  sync();

  return {
    api,
    session,
    store,
    socket,
    socketState: () => state,
    subscribeSocketState: (fn) => {
      stateListeners.add(fn);
      return () => void stateListeners.delete(fn);
    },
    reloadHosts,
    alerts,
    reloadAlerts,
    actions,
  };
}
