// Minimal history-API router. Paths: /login, / (dashboard), /hosts,
// /hosts/:id, /containers, /alerts (its tab in `?tab=`), /actions (its
// filters in `?host=&status=&type=`), /actions/:id, /scenarios,
// /scenarios/new, /scenarios/:id, /scenarios/runs/:id, /settings.
// The gateway must answer unknown non-/api paths with index.html.

import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'login' }
  | { name: 'dashboard' }
  | { name: 'hosts' }
  | { name: 'host'; id: string }
  | { name: 'containers' }
  | { name: 'alerts' }
  | { name: 'actions' }
  | { name: 'action'; id: string }
  | { name: 'scenarios' }
  /** id null: a new scenario. */
  | { name: 'scenario'; id: string | null }
  | { name: 'scenario_run'; id: string }
  | { name: 'settings' }
  | { name: 'not_found'; path: string };

/** `/<prefix>/<id>` routes. */
const ITEM_ROUTES = { hosts: 'host', actions: 'action', scenarios: 'scenario', 'scenarios/runs': 'scenario_run' } as const;

export function matchRoute(pathname: string): Route {
  const path = pathname.replace(/\/+$/, '') || '/';
  switch (path) {
    case '/': return { name: 'dashboard' };
    case '/login': return { name: 'login' };
    case '/hosts': return { name: 'hosts' };
    case '/containers': return { name: 'containers' };
    case '/alerts': return { name: 'alerts' };
    case '/actions': return { name: 'actions' };
    case '/scenarios':
    case '/scenarios/runs': return { name: 'scenarios' };
    case '/scenarios/new': return { name: 'scenario', id: null };
    case '/settings': return { name: 'settings' };
  }
  const m = /^\/(hosts|actions|scenarios|scenarios\/runs)\/([^/]+)$/.exec(path);
  if (m) {
    const name = ITEM_ROUTES[m[1] as keyof typeof ITEM_ROUTES];
    try {
      return { name, id: decodeURIComponent(m[2]!) };
    } catch {
      return { name: 'not_found', path };
    }
  }
  return { name: 'not_found', path };
}

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const fn of listeners) fn();
  if (!replace) window.scrollTo(0, 0);
}

if (typeof window !== 'undefined') {
  window.addEventListener('popstate', () => {
    for (const fn of listeners) fn();
  });
}

export function useRoute(): Route {
  const [path, setPath] = useState(() => location.pathname);
  useEffect(() => {
    const fn = () => setPath(location.pathname);
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, []);
  return matchRoute(path);
}

/** Click handler for in-app links: plain left clicks navigate without reloading. */
export function onLinkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.currentTarget as HTMLElement).closest('a');
  const href = a?.getAttribute('href');
  if (!href || !href.startsWith('/') || a?.target) return;
  e.preventDefault();
  navigate(href);
}
