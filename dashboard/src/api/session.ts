// The signed-in session: access + refresh token and user, persisted in
// localStorage under `vigil.session`. Listeners hear every change (login,
// refresh, logout) so the app can route to /login when the session ends.
// Invariant: `current` is null or holds both tokens.

import type { TokenPair, User } from './types';

export interface SessionData { accessToken: string; refreshToken: string; user: User }

export const SESSION_KEY = 'vigil.session';

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function memoryStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

export class Session {
  private data: SessionData | null;
  private listeners = new Set<(s: SessionData | null) => void>();

  constructor(private storage: KeyValueStorage = typeof localStorage !== 'undefined' ? localStorage : memoryStorage()) {
    this.data = Session.load(storage);
  }

  private static load(storage: KeyValueStorage): SessionData | null {
    try {
      const raw = storage.getItem(SESSION_KEY);
      if (!raw) return null;
      const parsed = JSON.parse(raw) as Partial<SessionData>;
      if (typeof parsed.accessToken === 'string' && typeof parsed.refreshToken === 'string' && parsed.user) {
        return parsed as SessionData;
      }
    } catch {
      // corrupt storage: treat as signed out
    }
    return null;
  }

  get current(): SessionData | null {
    return this.data;
  }

  setFromPair(pair: TokenPair): void {
    this.data = { accessToken: pair.access_token, refreshToken: pair.refresh_token, user: pair.user };
    this.storage.setItem(SESSION_KEY, JSON.stringify(this.data));
    this.emit();
  }

  clear(): void {
    if (this.data === null) return;
    this.data = null;
    this.storage.removeItem(SESSION_KEY);
    this.emit();
  }

  subscribe(fn: (s: SessionData | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn(this.data);
  }
}

/** Seconds-since-epoch `exp` of a JWT, or null when it cannot be read. */
export function jwtExpiry(token: string): number | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}
