// Hooks binding components to the live store with fine-grained updates:
// a row re-renders only when its own host object changes; a list only when
// hosts are added/removed or the user changes the sort.

import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import type { ActionsStore } from './actions/store';
import type { ActionRecord } from './api/types';
import type { AlertsStore, HostAlerts } from './live/alerts';
import type { HostsStore, HostView, SortKey, Summary } from './live/store';
import { sortHostIds } from './live/store';

function useForceUpdate(): () => void {
  const [, force] = useReducer((x: number) => x + 1, 0);
  return force as () => void;
}

export function useHost(store: HostsStore, id: string): HostView | undefined {
  const force = useForceUpdate();
  const seen = store.get(id);
  const ref = useRef(seen);
  ref.current = seen;
  useEffect(() => {
    const unsub = store.subscribeHost(id, force);
    if (store.get(id) !== ref.current) force();
    return unsub;
  }, [store, id]);
  return seen;
}

/** Host ids in sort order; re-sorted when hosts come or go, the key changes, or `resort` bumps. */
export function useSortedIds(store: HostsStore, key: SortKey, desc: boolean, resort = 0): string[] {
  const [listVersion, bump] = useReducer((x: number) => x + 1, 0);
  useEffect(() => {
    const unsubscribe = store.subscribeList(bump as () => void);
    // the list may have changed between this render and the subscription
    (bump as () => void)();
    return unsubscribe;
  }, [store]);
  return useMemo(() => sortHostIds(store, key, desc), [store, key, desc, listVersion, resort]);
}

/** Store summary, refreshed at most once per applied batch (animation frame). */
export function useSummary(store: HostsStore): Summary {
  const force = useForceUpdate();
  useEffect(() => {
    const unsubscribe = store.subscribeChanges(() => force());
    // changes between this render and the subscription would be missed
    force();
    return unsubscribe;
  }, [store]);
  return store.summary();
}

// One shared clock for every "5 minutes ago" on screen.
const clockListeners = new Set<() => void>();
let clockTimer: ReturnType<typeof setInterval> | null = null;

export function useNow(): number {
  const force = useForceUpdate();
  useEffect(() => {
    clockListeners.add(force);
    if (!clockTimer) {
      clockTimer = setInterval(() => {
        for (const fn of clockListeners) fn();
      }, 30_000);
    }
    return () => {
      clockListeners.delete(force);
      if (clockListeners.size === 0 && clockTimer) {
        clearInterval(clockTimer);
        clockTimer = null;
      }
    };
  }, []);
  return Date.now();
}

export interface AsyncState<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `fn` when deps change; keeps the last data while reloading; ignores stale answers. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | null; loading: boolean }>({
    data: undefined, error: null, loading: true,
  });
  const [tick, reload] = useReducer((x: number) => x + 1, 0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) =>
        live && setState((s) => ({ data: s.data, error: error instanceof Error ? error : new Error(String(error)), loading: false })),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: reload as () => void };
}

/** Re-renders on every applied batch of alert changes (once per animation frame at most). */
export function useAlerts(alerts: AlertsStore): AlertsStore {
  const force = useForceUpdate();
  useEffect(() => {
    const unsubscribe = alerts.subscribe(force);
    force();
    return unsubscribe;
  }, [alerts]);
  return alerts;
}

/** Re-renders on every applied batch of action changes (once per animation frame at most). */
export function useActions(actions: ActionsStore): ActionsStore {
  const force = useForceUpdate();
  useEffect(() => {
    const unsubscribe = actions.subscribe(force);
    force();
    return unsubscribe;
  }, [actions]);
  return actions;
}

/** One action as the store holds it; re-renders only when it changes. */
export function useAction(actions: ActionsStore, id: string | null): ActionRecord | undefined {
  const force = useForceUpdate();
  const seen = id ? actions.get(id) : undefined;
  const ref = useRef(seen);
  ref.current = seen;
  useEffect(() => {
    if (!id) return;
    const check = () => {
      if (actions.get(id) !== ref.current) force();
    };
    const unsubscribe = actions.subscribe(check);
    check();
    return unsubscribe;
  }, [actions, id]);
  return seen;
}

/** The host's badge values; re-renders only when they change. */
export function useHostAlerts(alerts: AlertsStore, hostId: string): HostAlerts | null {
  const force = useForceUpdate();
  const seen = alerts.host(hostId);
  const ref = useRef(seen);
  ref.current = seen;
  useEffect(() => {
    const unsubscribe = alerts.subscribeHost(hostId, () => {
      if (alerts.host(hostId) !== ref.current) force();
    });
    if (alerts.host(hostId) !== ref.current) force();
    return unsubscribe;
  }, [alerts, hostId]);
  return seen;
}

/** Actions on the rows of a list (toggle, expire, delete): `busy` is the row
 * in hand, `error` why the last one failed; the list reloads after each. */
export function useRowActions(reload: () => void): {
  busy: string | null;
  error: string | null;
  act: (id: string, what: () => Promise<unknown>) => Promise<void>;
} {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const act = async (id: string, what: () => Promise<unknown>) => {
    setBusy(id);
    setError(null);
    try {
      await what();
      reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, act };
}
