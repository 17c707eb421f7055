// Browser side of the live benchmark (run by `vigil-live-bench --browser`, or
// by hand against a running stack): Debian's chromium, logged in, on the host
// list while every host updates live. Three phases, each reported apart:
//
// 1. first load: `/hosts` loaded with the HTTP cache and the service worker
//    bypassed, until the list reports N hosts (`data-host-count` on the list;
//    the rows themselves are windowed, so counting rows in the DOM would not
//    work). Prints the time, the JavaScript transferred (bytes on the wire;
//    a worker's script, fetched outside the page's network session, at the
//    size the gateway serves it gzipped) and the frames' work.
// 2. steady live phase (--seconds): the page left alone while frames arrive.
// 3. scrolling (--scroll-seconds, 0 to skip): the list scrolled by 40 px every
//    frame while frames arrive (rows mount and unmount).
//
// For each phase, a frame's work is what the renderer main thread did between
// the ends of two consecutive animation frames (`AnimationFrame` trace events,
// the long-animation-frame timeline for every frame, not only those over
// 50 ms), from a Chromium trace (`toplevel` tasks): their CPU time (thread
// time, what the page's code and rendering cost) and their wall time (busy,
// which also counts time the thread waited for a core). A frame whose work
// exceeds 16 ms misses the 60 Hz budget. The
// steady and scrolling phases also report the requestAnimationFrame interval,
// long animation frames (PerformanceObserver 'long-animation-frame', > 50 ms)
// and long tasks. Each line ends with the machine's load average: on 2 cores
// shared with the stack and the simulated agents, other work shows up there.
//
//   node tests/e2e/bench.mjs --base http://127.0.0.1:8080 --email E --password P --hosts 1000 --seconds 20
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { loadavg as osLoadavg } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './run.mjs';

const opts = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const base = opts.base;
const hosts = Number(opts.hosts ?? 1000);
const seconds = Number(opts.seconds ?? 20);
const scrollSeconds = Number(opts['scroll-seconds'] ?? 5);
const BUDGET_MS = 16;
// BENCH_TRACE_DIR: keep each phase's Chromium trace there (open in chrome://tracing or Perfetto)
const traceDir = process.env.BENCH_TRACE_DIR;
let traces = 0;
if (!base || !opts.email || !opts.password) {
  console.error('usage: bench.mjs --base URL --email E --password P [--hosts N] [--seconds S] [--scroll-seconds S]');
  process.exit(2);
}

const sortNum = (values) => values.slice().sort((a, b) => a - b);
const pick = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * p))] ?? 0;
const ms = (v) => `${v.toFixed(1)} ms`;
/** The machine's 1-minute load average (2 cores here): other work competes with the browser. */
const loadavg = () => osLoadavg()[0].toFixed(2);
const pct = (n, d) => `${(100 * n / Math.max(1, d)).toFixed(2)} %`;

/** Installed before the app's scripts: long animation frames and long tasks since navigation. */
function observeLongFrames() {
  window.__bench = { loaf: [], longTasks: [] };
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__bench.loaf.push({ at: e.startTime, duration: e.duration, blocking: e.blockingDuration }); })
      .observe({ type: 'long-animation-frame', buffered: true });
    window.__bench.loafSupported = true;
  } catch { window.__bench.loafSupported = false; }
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__bench.longTasks.push({ at: e.startTime, duration: e.duration }); })
      .observe({ type: 'longtask', buffered: true });
  } catch { /* not supported */ }
}

/** Per-frame main-thread work from a Chromium trace (see the header). */
function frameWork(traceBuffer) {
  const events = JSON.parse(traceBuffer.toString('utf8')).traceEvents ?? [];
  const names = new Map();
  for (const e of events) if (e.name === 'thread_name' && e.ph === 'M') names.set(`${e.pid}:${e.tid}`, e.args?.name);
  const main = events.filter((e) => names.get(`${e.pid}:${e.tid}`) === 'CrRendererMain');
  // the page's renderer: the one that rendered the most frames
  const frames = new Map();
  for (const e of main) if (e.name === 'AnimationFrame' && e.ph === 'e') frames.set(e.pid, (frames.get(e.pid) ?? 0) + 1);
  const pid = [...frames.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const mine = main.filter((e) => e.pid === pid).sort((a, b) => a.ts - b.ts);
  const ends = mine.filter((e) => e.name === 'AnimationFrame' && e.ph === 'e').map((e) => e.ts);
  const top = [];
  let busyUntil = -Infinity;
  for (const t of mine) {
    if (t.name !== 'ThreadControllerImpl::RunTask' || t.ph !== 'X' || t.ts < busyUntil) continue; // nested: counted in its parent
    top.push(t);
    busyUntil = t.ts + (t.dur ?? 0);
  }
  // WebSocket messages the main thread received (`WebSocketReceive`, one per message)
  const messages = mine.filter((e) => e.name === 'WebSocketReceive').map((e) => e.ts);
  const wall = [];
  const cpu = [];
  const perFrameMessages = [];
  let first = 0;
  let m = 0;
  for (let i = 1; i < ends.length; i += 1) {
    const [from, to] = [ends[i - 1], ends[i]];
    while (first < top.length && top[first].ts + top[first].dur <= from) first += 1;
    let busy = 0;
    let thread = 0;
    for (let k = first; k < top.length && top[k].ts < to; k += 1) {
      const t = top[k];
      const overlap = Math.max(0, Math.min(to, t.ts + t.dur) - Math.max(from, t.ts));
      busy += overlap;
      // thread time of the part of the task inside this frame (tdur: CPU time the task got)
      thread += t.dur > 0 ? (t.tdur ?? t.dur) * (overlap / t.dur) : 0;
    }
    wall.push(busy / 1000);
    cpu.push(thread / 1000);
    while (m < messages.length && messages[m] < from) m += 1;
    let count = 0;
    while (m + count < messages.length && messages[m + count] < to) count += 1;
    perFrameMessages.push(count);
  }
  return { wall, cpu, messages: perFrameMessages };
}

function describeWork({ wall, cpu, messages }) {
  const line = (values) => {
    const sorted = sortNum(values);
    const over = sorted.filter((w) => w > BUDGET_MS).length;
    return `p50 ${ms(pick(sorted, 0.5))}, p99 ${ms(pick(sorted, 0.99))}, max ${ms(sorted.at(-1) ?? 0)}, ${over} (${pct(over, sorted.length)}) over ${BUDGET_MS} ms`;
  };
  // what the frames over budget had in them: how many socket messages arrived in each
  const overMessages = sortNum(cpu.map((c, i) => [c, messages[i]]).filter(([c]) => c > BUDGET_MS).map(([, n]) => n));
  const msgs = sortNum(messages);
  const overLine = overMessages.length ? `; frames over ${BUDGET_MS} ms held p50 ${pick(overMessages, 0.5)}, max ${overMessages.at(-1)} socket messages` : '';
  return `${cpu.length} frames; main-thread cpu per frame ${line(cpu)}; busy (wall) per frame ${line(wall)}; ` +
    `socket messages on the main thread per frame p50 ${pick(msgs, 0.5)}, p99 ${pick(msgs, 0.99)}, max ${msgs.at(-1) ?? 0}${overLine}`;
}

async function traced(browser, page, run) {
  await browser.startTracing(page, { categories: ['devtools.timeline', 'toplevel'] });
  let result;
  try {
    result = await run();
  } finally {
    const trace = await browser.stopTracing();
    if (traceDir) {
      traces += 1;
      writeFileSync(join(traceDir, `trace-${traces}.json`), trace);
    }
    result = { ...result, work: frameWork(trace) };
  }
  return result;
}

/** Records rAF intervals and long frames for `ms` while `step` runs every frame. */
function measureLive({ ms, scrollBy }) {
  return new Promise((done) => {
    const loafBefore = window.__bench.loaf.length;
    const tasksBefore = window.__bench.longTasks.length;
    const deltas = [];
    let last = performance.now();
    const end = last + ms;
    const tick = (now) => {
      deltas.push(now - last);
      last = now;
      if (scrollBy) window.scrollBy(0, scrollBy);
      if (now < end) requestAnimationFrame(tick);
      else {
        done({
          deltas: deltas.slice(1),
          loaf: window.__bench.loaf.slice(loafBefore).map((e) => e.duration),
          loafSupported: window.__bench.loafSupported,
          longTasks: window.__bench.longTasks.slice(tasksBefore).map((e) => e.duration),
          rows: document.querySelectorAll('[data-testid^="host-row-"]').length,
          scrollY: window.scrollY,
        });
      }
    };
    requestAnimationFrame(tick);
  });
}

function describeLive(r) {
  const sorted = sortNum(r.deltas);
  const over = sorted.filter((d) => d > 16.7 + 1).length;
  const loaf = r.loafSupported ? `${r.loaf.length} long animation frames (> 50 ms)${r.loaf.length ? `, max ${ms(Math.max(...r.loaf))}` : ''}` : 'long-animation-frame unsupported';
  return `rAF interval p50 ${ms(pick(sorted, 0.5))}, p99 ${ms(pick(sorted, 0.99))}, max ${ms(sorted.at(-1) ?? 0)}, ${pct(over, sorted.length)} over 17.7 ms; ` +
    `${loaf}; ${r.longTasks.length} long tasks${r.longTasks.length ? ` (max ${ms(Math.max(...r.longTasks))})` : ''}; ${r.rows} rows in the DOM`;
}

/** Body size (bytes) and encoding of `url` as served to a browser that accepts gzip. */
function servedSize(url) {
  return new Promise((resolve, reject) => {
    get(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => { bytes += chunk.length; });
      res.on('end', () => resolve({ bytes, encoding: res.headers['content-encoding'] ?? 'identity' }));
    }).on('error', reject);
  });
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(observeLongFrames);
  const page = await context.newPage();
  let wsFrames = 0;
  page.on('websocket', (ws) => ws.on('framereceived', () => { wsFrames += 1; }));
  await page.goto(base + '/login');
  await page.getByTestId('login-email').fill(opts.email);
  await page.getByTestId('login-password').fill(opts.password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 20_000 });
  await page.goto(base + '/settings'); // a page without the host list, so the load below starts from nothing

  // 1. First load, cache disabled.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Network.setBypassServiceWorker', { bypass: true }); // its cache would serve the assets
  // JavaScript on the wire: what the network stack received (headers included) for each script
  const scripts = new Map();
  cdp.on('Network.responseReceived', (e) => {
    // scripts of the page and of its workers (a worker's script may be typed 'Other')
    if (e.type !== 'Script' && !/\.m?js(\?|$)/.test(new URL(e.response.url).pathname)) return;
    const headers = Object.fromEntries(Object.entries(e.response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    scripts.set(e.requestId, { url: e.response.url, encoding: headers['content-encoding'] ?? 'identity', bytes: 0 });
  });
  cdp.on('Network.loadingFinished', (e) => {
    const script = scripts.get(e.requestId);
    if (script) script.bytes = e.encodedDataLength;
  });
  const load = await traced(browser, page, async () => {
    const t0 = Date.now();
    await page.goto(base + '/hosts');
    // `data-host-count`: the list's own count; dashboards built before windowing lack it, then count rows
    await page.waitForFunction((n) => {
      const list = document.querySelector('[data-testid="host-list"]');
      const count = list?.getAttribute('data-host-count');
      return (count !== null && count !== undefined ? Number(count) : document.querySelectorAll('[data-testid^="host-row-"]').length) >= n;
    }, hosts, { timeout: 60_000, polling: 100 });
    const listedMs = Date.now() - t0;
    await page.waitForTimeout(1000); // the frames right after the list appears belong to the load
    return { listedMs, rows: await page.evaluate(() => document.querySelectorAll('[data-testid^="host-row-"]').length) };
  });
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  await cdp.send('Network.setBypassServiceWorker', { bypass: false });
  // Workers fetch their scripts outside the page's network session (and maybe
  // from the cache): each worker script is counted at the size the gateway
  // serves it gzipped.
  const pageScripts = new Set([...scripts.values()].map((s) => s.url));
  for (const worker of page.workers()) {
    if (pageScripts.has(worker.url())) continue;
    const { bytes, encoding } = await servedSize(worker.url());
    scripts.set(worker.url(), { url: worker.url(), encoding, bytes });
  }
  const jsWire = [...scripts.values()].reduce((sum, s) => sum + s.bytes, 0);
  const encodings = [...new Set([...scripts.values()].map((s) => s.encoding))].join(', ');
  console.log(`chromium first load of /hosts (${hosts} hosts, cache disabled): listed in ${load.listedMs} ms; ` +
    `${scripts.size} scripts (${[...scripts.values()].map((s) => new URL(s.url).pathname.split('/').pop()).join(', ')}), ${(jsWire / 1024).toFixed(1)} KiB of JavaScript on the wire (${encodings || 'none'}); ` +
    `${load.rows} rows in the DOM; ${describeWork(load.work)}; load average ${loadavg()}`);

  // 2. Steady live phase.
  const framesBefore = wsFrames;
  const steady = await traced(browser, page, () => page.evaluate(measureLive, { ms: seconds * 1000, scrollBy: 0 }));
  console.log(`chromium steady live (${hosts} hosts, ${seconds} s, ${wsFrames - framesBefore} ws frames): ${describeWork(steady.work)}; ${describeLive(steady)}; load average ${loadavg()}`);

  // 3. Scrolling while live.
  if (scrollSeconds > 0) {
    const framesBefore = wsFrames;
    const scroll = await traced(browser, page, () => page.evaluate(measureLive, { ms: scrollSeconds * 1000, scrollBy: 40 }));
    console.log(`chromium scrolling live (${scrollSeconds} s, 40 px a frame, ${wsFrames - framesBefore} ws frames, scrolled to ${Math.round(scroll.scrollY)} px): ` +
      `${describeWork(scroll.work)}; ${describeLive(scroll)}; load average ${loadavg()}`);
  }
} finally {
  await browser.close();
}
