import { describe, expect, it } from 'vitest';
import { clampPercent, formatBytes, formatBytesOf, formatPercent, formatUptime, timeAgo } from '../src/format';

describe('formatBytes', () => {
  it('uses 1024-based units with at most one decimal', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(268435456)).toBe('256 MB');
    expect(formatBytes(1073741824)).toBe('1 GB');
    expect(formatBytes(50 * 1024 ** 3)).toBe('50 GB');
    expect(formatBytes(2.5 * 1024 ** 4)).toBe('2.5 TB');
  });
  it('renders a dash for missing or negative values', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(NaN)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
  });
  it('formats used over total', () => {
    expect(formatBytesOf(256 * 1024 ** 2, 1024 ** 3)).toBe('256 MB / 1 GB');
  });
});

describe('formatPercent', () => {
  it('rounds to whole percents from 10 and keeps one decimal below', () => {
    expect(formatPercent(45)).toBe('45%');
    expect(formatPercent(23.46)).toBe('23%');
    expect(formatPercent(5.25)).toBe('5.3%');
    expect(formatPercent(5)).toBe('5%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(100)).toBe('100%');
  });
  it('renders a dash without a value', () => {
    expect(formatPercent(null)).toBe('—');
    expect(formatPercent(Infinity)).toBe('—');
  });
  it('clamps bar widths to 0..100', () => {
    expect(clampPercent(120)).toBe(100);
    expect(clampPercent(-3)).toBe(0);
    expect(clampPercent(null)).toBe(0);
    expect(clampPercent(42.5)).toBe(42.5);
  });
});

describe('timeAgo', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  it('says "5 minutes ago" five minutes after', () => {
    expect(timeAgo('2026-11-24T11:55:00Z', now)).toBe('5 minutes ago');
  });
  it('uses singular units and larger units as time passes', () => {
    expect(timeAgo('2026-11-24T11:59:00Z', now)).toBe('1 minute ago');
    expect(timeAgo('2026-11-24T10:00:00Z', now)).toBe('2 hours ago');
    expect(timeAgo('2026-11-23T11:00:00Z', now)).toBe('1 day ago');
    expect(timeAgo('2026-11-14T12:00:00Z', now)).toBe('10 days ago');
  });
  it('says "just now" within the last 45 seconds and "never" without a time', () => {
    expect(timeAgo('2026-11-24T11:59:30Z', now)).toBe('just now');
    expect(timeAgo(null, now)).toBe('never');
    expect(timeAgo('not a date', now)).toBe('never');
  });
});

describe('formatUptime', () => {
  it('shows whole days from one day on', () => {
    expect(formatUptime(45 * 86400 + 3 * 3600)).toBe('45 days');
    expect(formatUptime(86400)).toBe('1 day');
  });
  it('shows hours, minutes or seconds below a day', () => {
    expect(formatUptime(3 * 3600 + 59)).toBe('3 hours');
    expect(formatUptime(12 * 60)).toBe('12 minutes');
    expect(formatUptime(1)).toBe('1 second');
    expect(formatUptime(30)).toBe('30 seconds');
  });
  it('renders a dash without a value', () => {
    expect(formatUptime(null)).toBe('—');
    expect(formatUptime(-5)).toBe('—');
  });
});
