// Display formatting: bytes, percentages, relative times and uptimes.
// Every function is pure and accepts null/undefined/NaN, rendering "—" for
// a missing value so screens never show "NaN" or "undefined".

export const DASH = '—';

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

function missing(n: number | null | undefined): n is null | undefined {
  return n === null || n === undefined || !Number.isFinite(n);
}

/** 1024-based sizes: 0 → "0 B", 1536 → "1.5 KB", 268435456 → "256 MB". */
export function formatBytes(n: number | null | undefined): string {
  if (missing(n) || n < 0) return DASH;
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const text = value >= 100 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, '');
  return `${text} ${BYTE_UNITS[unit]}`;
}

/** "used / total", e.g. "50 GB / 100 GB". */
export function formatBytesOf(used: number | null | undefined, total: number | null | undefined): string {
  return `${formatBytes(used)} / ${formatBytes(total)}`;
}

/** 45 → "45%", 23.46 → "23%", 5.25 → "5.3%", 0 → "0%". Values below 10 keep one decimal. */
export function formatPercent(p: number | null | undefined): string {
  if (missing(p)) return DASH;
  const abs = Math.abs(p);
  if (abs === 0) return '0%';
  const text = abs < 10 ? p.toFixed(1).replace(/\.0$/, '') : p.toFixed(0);
  return `${text}%`;
}

/** Clamp a percentage to [0, 100] for bar widths. */
export function clampPercent(p: number | null | undefined): number {
  if (missing(p)) return 0;
  return Math.min(100, Math.max(0, p));
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** Parses RFC 3339 text, a Date or epoch milliseconds; null when absent or invalid. */
export function toTime(value: string | number | Date | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const t = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(t) ? t : null;
}

/** "just now", "1 minute ago", "5 minutes ago", "2 hours ago", "3 days ago"; "never" without a time. */
export function timeAgo(value: string | number | Date | null | undefined, now: number = Date.now()): string {
  const t = toTime(value);
  if (t === null) return 'never';
  const seconds = Math.floor((now - t) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${plural(minutes, 'minute')} ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${plural(hours, 'hour')} ago`;
  const days = Math.floor(hours / 24);
  return `${plural(days, 'day')} ago`;
}

/** Uptime in seconds: "45 days", "1 day", "3 hours", "12 minutes", "30 seconds". */
export function formatUptime(seconds: number | null | undefined): string {
  if (missing(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  if (s >= 86400) return plural(Math.floor(s / 86400), 'day');
  if (s >= 3600) return plural(Math.floor(s / 3600), 'hour');
  if (s >= 60) return plural(Math.floor(s / 60), 'minute');
  return plural(s, 'second');
}

/** Local date-time, e.g. for token creation times. */
export function formatDateTime(value: string | null | undefined): string {
  const t = toTime(value);
  if (t === null) return DASH;
  return new Date(t).toLocaleString();
}

/** A length of time, compact: "45 s", "10 min", "2 h 5 min", "3 d 4 h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (missing(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How long something has been going on: "since 10 min", "since 2 h 5 min"; "since <1 min" at first. */
export function formatSince(value: string | number | Date | null | undefined, now: number = Date.now()): string {
  const t = toTime(value);
  if (t === null) return DASH;
  const seconds = Math.max(0, (now - t) / 1000);
  return seconds < 60 ? 'since <1 min' : `since ${formatDuration(seconds)}`;
}

/** A duration in milliseconds: "850 ms", "2.4 s", then as `formatDuration`. */
export function formatMs(ms: number | null | undefined): string {
  if (missing(ms) || ms < 0) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
  return formatDuration(ms / 1000);
}
