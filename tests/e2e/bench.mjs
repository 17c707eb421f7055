// Browser side of the live benchmark (run by `vigil-live-bench --browser`, or
// by hand against a running stack): logs in with Debian's chromium, opens the
// host list, waits for every host row, then for --seconds records the time
// between animation frames (requestAnimationFrame) and long tasks (> 50 ms)
// while the hosts update live, and prints p50/p99/max and the share of frames
// over 16.7 ms.
//
//   node tests/e2e/bench.mjs --base http://127.0.0.1:8080 --email E --password P --hosts 1000 --seconds 20
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './run.mjs';

const opts = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const base = opts.base;
const hosts = Number(opts.hosts ?? 1000);
const seconds = Number(opts.seconds ?? 20);
if (!base || !opts.email || !opts.password) {
  console.error('usage: bench.mjs --base URL --email E --password P [--hosts N] [--seconds S]');
  process.exit(2);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  let frames = 0;
  let counting = false;
  page.on('websocket', (ws) => ws.on('framereceived', () => { if (counting) frames += 1; }));
  await page.goto(base + '/login');
  await page.getByTestId('login-email').fill(opts.email);
  await page.getByTestId('login-password').fill(opts.password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 20_000 });
  await page.goto(base + '/hosts');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid^="host-row-"]').length >= n, hosts, { timeout: 60_000 });
  counting = true;
  const result = await page.evaluate((ms) => new Promise((done) => {
    const deltas = [];
    const longTasks = [];
    const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); });
    try { observer.observe({ type: 'longtask', buffered: false }); } catch { /* not supported */ }
    let last = performance.now();
    const end = last + ms;
    const tick = (now) => {
      deltas.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(tick);
      else { observer.disconnect(); done({ deltas, longTasks }); }
    };
    requestAnimationFrame(tick);
  }), seconds * 1000);
  const sorted = result.deltas.slice(1).sort((a, b) => a - b);
  const pick = (p) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * p))] ?? 0;
  const over = sorted.filter((d) => d > 16.7 + 1).length;
  console.log(`chromium host list (${hosts} hosts live, ${seconds} s, ${frames} ws frames during the measurement): ${sorted.length} animation frames, ` +
    `interval p50 ${pick(0.5).toFixed(1)} ms, p99 ${pick(0.99).toFixed(1)} ms, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms, ` +
    `${(100 * over / Math.max(1, sorted.length)).toFixed(2)} % over 17.7 ms; long tasks: ${result.longTasks.length}` +
    (result.longTasks.length ? ` (max ${Math.max(...result.longTasks).toFixed(0)} ms)` : ''));
} finally {
  await browser.close();
}
