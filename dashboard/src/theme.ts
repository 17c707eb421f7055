// Light/dark theme. Without a stored choice the page follows
// prefers-color-scheme; the toggle stores "light" or "dark" in localStorage
// (`vigil.theme`) and sets <html data-theme>, which the CSS variables key on.

export type Theme = 'light' | 'dark';
export const THEME_KEY = 'vigil.theme';

export function storedTheme(): Theme | null {
  try {
    const v = localStorage.getItem(THEME_KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    return null;
  }
}

export function effectiveTheme(): Theme {
  const stored = storedTheme();
  if (stored) return stored;
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(theme: Theme | null): void {
  const root = document.documentElement;
  if (theme) root.dataset.theme = theme;
  else delete root.dataset.theme;
  const meta = document.querySelector('meta[name="theme-color"]:not([media])');
  if (meta) meta.setAttribute('content', effectiveTheme() === 'dark' ? '#0f1419' : '#f5f7fa');
  window.dispatchEvent(new Event('vigil-theme'));
}

export function toggleTheme(): Theme {
  const next: Theme = effectiveTheme() === 'dark' ? 'light' : 'dark';
  try {
    localStorage.setItem(THEME_KEY, next);
  } catch {
    // private mode: the choice lasts for this page only
  }
  applyTheme(next);
  return next;
}
