import { describe, expect, it } from 'vitest';
import {
  MAX_NAME,
  normalizeScrapeTokens,
  scrapeJob,
  validateScrapeTokenName,
} from '../src/pages/settings/ScrapeTokens';

describe('scrape tokens', () => {
  it('keeps well-formed rows of the list and never invents a secret', () => {
    const rows = normalizeScrapeTokens([
      { id: 'scr-1', name: 'prod', created_at: '2026-12-06T10:00:00Z', last_used: null, revoked_at: null },
      { id: 'scr-2', name: null, created_at: '2026-12-05T10:00:00Z', last_used: '2026-12-06T09:59:00Z', revoked_at: '2026-12-06T10:01:00Z' },
      { name: 'no id' },
      null,
      'junk',
    ]);
    expect(rows.map((r) => r.id)).toEqual(['scr-1', 'scr-2']);
    expect(rows[1]).toEqual({
      id: 'scr-2',
      name: null,
      created_at: '2026-12-05T10:00:00Z',
      last_used: '2026-12-06T09:59:00Z',
      revoked_at: '2026-12-06T10:01:00Z',
    });
    expect(JSON.stringify(rows)).not.toContain('token');
    expect(normalizeScrapeTokens({ error: 'x' })).toEqual([]);
  });

  it('accepts an empty or short name and refuses long names and control characters, naming the field', () => {
    expect(validateScrapeTokenName('')).toBeNull();
    expect(validateScrapeTokenName('  prometheus prod  ')).toBeNull();
    expect(validateScrapeTokenName('é'.repeat(MAX_NAME))).toBeNull();
    expect(validateScrapeTokenName('x'.repeat(MAX_NAME + 1))).toMatch(/^name: /);
    expect(validateScrapeTokenName('a\nb')).toMatch(/^name: /);
  });

  it('writes the scrape job for the gateway the page was served from', () => {
    const job = scrapeJob('http://vigil.example.net:8080');
    expect(job).toContain('metrics_path: /api/metrics/prometheus');
    expect(job).toContain("targets: ['vigil.example.net:8080']");
    expect(job).toContain('credentials_file: /etc/prometheus/vigil.token');
    expect(job).not.toContain('scheme: https');
    const tls = scrapeJob('https://vigil.example.net', '/run/secrets/vigil');
    expect(tls).toContain('scheme: https');
    expect(tls).toContain("targets: ['vigil.example.net']");
    expect(tls).toContain('credentials_file: /run/secrets/vigil');
    // a YAML list item under scrape_configs
    expect(job.split('\n')[0]).toBe('  - job_name: vigil');
  });
});
