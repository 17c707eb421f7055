// App shell: header (brand, nav — Alerts with the count of firing alerts —,
// theme toggle, user menu), the live connection banner and the page.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useServices } from '../context';
import { useAlerts } from '../hooks';
import type { SocketState } from '../live/socket';
import { navigate, onLinkClick, type Route } from '../router';
import { effectiveTheme, toggleTheme } from '../theme';

interface NavItem { key: string; label: string; href: string; active: (r: Route) => boolean }

export const NAV: NavItem[] = [
  { key: 'dashboard', label: 'Dashboard', href: '/', active: (r) => r.name === 'dashboard' },
  { key: 'hosts', label: 'Hosts', href: '/hosts', active: (r) => r.name === 'hosts' || r.name === 'host' },
  { key: 'containers', label: 'Containers', href: '/containers', active: (r) => r.name === 'containers' },
  { key: 'alerts', label: 'Alerts', href: '/alerts', active: (r) => r.name === 'alerts' },
  { key: 'actions', label: 'Actions', href: '/actions', active: (r) => r.name === 'actions' || r.name === 'action' },
  { key: 'scenarios', label: 'Scenarios', href: '/scenarios', active: (r) => r.name === 'scenarios' || r.name === 'scenario' || r.name === 'scenario_run' },
  { key: 'settings', label: 'Settings', href: '/settings', active: (r) => r.name === 'settings' },
];

/** Firing (unacknowledged) alerts next to "Alerts" in the nav; nothing when there are none. */
function NavAlertCount() {
  const { alerts } = useServices();
  useAlerts(alerts);
  const s = alerts.summary();
  if (alerts.state !== 'ready' || s.firing === 0) return null;
  return (
    <span class={`nav-count sev-${s.worst ?? 'warning'}`} data-testid="nav-alerts-count" aria-label={`${s.firing} firing`}>
      {s.firing}
    </span>
  );
}

function Nav({ route }: { route: Route }) {
  return (
    <nav class="nav" aria-label="Main">
      {NAV.map((item) => (
        <a
          key={item.key}
          href={item.href}
          onClick={onLinkClick}
          class={`nav-item${item.active(route) ? ' is-active' : ''}`}
          aria-current={item.active(route) ? 'page' : undefined}
          data-testid={`nav-${item.key}`}
        >
          {item.label}
          {item.key === 'alerts' ? <NavAlertCount /> : null}
        </a>
      ))}
    </nav>
  );
}

function UserMenu() {
  const { api, session } = useServices();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const user = session.current?.user;

  useEffect(() => {
    if (!open) return;
    const close = (e: Event) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('click', close);
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('click', close);
      document.removeEventListener('keydown', esc);
    };
  }, [open]);

  const logout = async () => {
    setBusy(true);
    try {
      await api.logout();
    } catch {
      // the local session is gone either way
    }
    navigate('/login', true);
  };

  return (
    <div class="user-menu" ref={ref}>
      <button
        type="button"
        class="btn btn-ghost user-button"
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        data-testid="user-menu"
      >
        <span class="avatar" aria-hidden="true">{(user?.email ?? '?').slice(0, 1).toUpperCase()}</span>
        <span class="user-email">{user?.email ?? 'signed out'}</span>
        <span aria-hidden="true">▾</span>
      </button>
      {open ? (
        <div class="menu" role="menu">
          <div class="menu-head">
            <div>{user?.email}</div>
            <div class="muted">{user?.role}</div>
          </div>
          <button type="button" role="menuitem" class="menu-item" disabled={busy} onClick={logout} data-testid="logout-button">
            {busy ? 'Signing out…' : 'Sign out'}
          </button>
        </div>
      ) : null}
    </div>
  );
}

function ThemeToggle() {
  const [theme, setTheme] = useState(effectiveTheme);
  const next = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      type="button"
      class="btn btn-ghost icon-btn"
      title={`Switch to ${next} theme`}
      aria-label={`Switch to ${next} theme`}
      onClick={() => setTheme(toggleTheme())}
      data-testid="theme-toggle"
    >
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}

export function OfflineBanner() {
  const { socketState, subscribeSocketState } = useServices();
  const [state, setState] = useState<SocketState>(socketState);
  const [online, setOnline] = useState(() => (typeof navigator === 'undefined' ? true : navigator.onLine !== false));
  useEffect(() => subscribeSocketState(setState), [subscribeSocketState]);
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    window.addEventListener('online', up);
    window.addEventListener('offline', down);
    return () => {
      window.removeEventListener('online', up);
      window.removeEventListener('offline', down);
    };
  }, []);
  if (online && state !== 'reconnecting') return null;
  return (
    <div class="banner banner-warn" role="status" data-testid="offline-banner">
      {online ? 'Live updates disconnected — reconnecting…' : 'You are offline — live updates will resume when the network is back.'}
    </div>
  );
}

export function Layout({ route, children }: { route: Route; children: ComponentChildren }) {
  return (
    <div class="shell">
      <header class="topbar">
        <a href="/" onClick={onLinkClick} class="brand" aria-label="Vigil home">
          <img src="/icon.svg" alt="" width={24} height={24} />
          <span>Vigil</span>
        </a>
        <Nav route={route} />
        <div class="topbar-end">
          <ThemeToggle />
          <UserMenu />
        </div>
      </header>
      <OfflineBanner />
      <main class="page">{children}</main>
    </div>
  );
}
