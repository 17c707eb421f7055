// The app's long-lived services, shared through a Preact context so
// components (and tests) get them without module singletons.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ActionsStore } from './actions/store';
import type { ApiClient } from './api/client';
import type { Session } from './api/session';
import type { AlertsStore } from './live/alerts';
import type { HostsStore } from './live/store';
import type { LiveConnection, SocketState } from './live/socket';

export interface AppServices {
  api: ApiClient;
  session: Session;
  store: HostsStore;
  socket: LiveConnection | null;
  /** Current socket state and its listeners, for the banner. */
  socketState: () => SocketState;
  subscribeSocketState: (fn: (s: SocketState) => void) => () => void;
  /** Refetches /api/hosts into the store. */
  reloadHosts: () => Promise<void>;
  /** Active alerts (REST load + live `alert` frames). */
  alerts: AlertsStore;
  /** Refetches /api/alerts into the alerts store. */
  reloadAlerts: () => Promise<void>;
  /** Remote actions (REST answers + live `action` frames). */
  actions: ActionsStore;
}

export const AppContext = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const s = useContext(AppContext);
  if (!s) throw new Error('AppContext is missing: render inside <AppContext.Provider>');
  return s;
}

/** Whether the signed-in user may change things (admins); viewers only read. */
export function useCanWrite(): boolean {
  return useServices().session.current?.user.role === 'admin';
}

/** Whether the signed-in user may run remote actions (operators and admins; the server answers viewers 403). */
export function useCanAct(): boolean {
  const role = useServices().session.current?.user.role;
  return role === 'admin' || role === 'operator';
}
