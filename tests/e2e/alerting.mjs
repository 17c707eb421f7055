// Alerting end to end, in the browser against the real stack (run.mjs calls
// `checkAlerting` while the local agent reports every second):
//
// 1. a webhook receiver (node's http server on 127.0.0.1) records every
//    request it gets;
// 2. Settings → Notification channels: a `webhook` channel to the receiver
//    is added and tested (the receiver gets `vigil.event` "test", the row
//    says delivered);
// 3. Alerts → Rules: a condition that does not parse puts the caret and the
//    server's error (naming the column) under the field; then a rule true for
//    the agent at once (`host.cpu.percent >= 0`, for 0s, critical, notifying
//    the channel) is previewed (≥ 1 match) and saved;
// 4. on a dashboard opened before the rule existed (a second tab, never
//    reloaded), the alert appears live: count card, active-alerts row, host
//    badge; the receiver gets "firing" with the rendered message;
// 5. Ack on the dashboard → the row says acknowledged (in both tabs) and the
//    receiver gets "acknowledged";
// 6. the rule is edited to a false condition → at the agent's next snapshot
//    the receiver gets "resolved", the row leaves the dashboard and the
//    History tab lists the alert.
//
// Screenshots (desktop and 375 px, light and dark): settings-channels,
// alerts (active), dashboard-alert, alerts-rule-editor, alerts-rules,
// alerts-history; and alerts-rule-error-desktop-light (the caret).
import { createServer } from 'node:http';
import { log } from './stack.mjs';

/** A webhook receiver on 127.0.0.1 (a free port) that records each request: method, path, headers, JSON body, time. */
export async function startReceiver() {
  const requests = [];
  const waiters = new Set();
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      let body = null;
      try { body = JSON.parse(raw); } catch { /* not json: kept raw */ }
      const request = { method: req.method, path: req.url, headers: req.headers, body, raw, at: Date.now() };
      requests.push(request);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      for (const waiter of [...waiters]) waiter(request);
    });
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hooks/vigil`,
    requests,
    /** The first request (already received or to come) for which `match` holds. */
    waitFor(what, match, timeoutMs = 30_000) {
      const seen = requests.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((ok, fail) => {
        const waiter = (request) => {
          if (!match(request)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          ok(request);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const got = requests.map((r) => `${r.method} ${r.body?.vigil?.event ?? '?'} ${r.body?.vigil?.alert_id ?? ''}`).join(', ');
          fail(new Error(`the webhook receiver got no ${what} in ${timeoutMs / 1000} s (got: ${got || 'nothing'})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const eventOf = (r) => r.body?.vigil?.event;

/**
 * The whole alerting flow. `page` is the admin's signed-in page (desktop,
 * light); `context` its browser context (a second tab shares the session);
 * `observe(page)` attaches run.mjs's console and response checks to a new tab.
 */
export async function checkAlerting({ page, context, base, hostId, check, shoot, observe }) {
  const receiver = await startReceiver();
  let watch = null;
  try {
    // Four screenshots of what `target` shows: desktop light and dark, 375 px dark and light; back to desktop light.
    // (from the top: a page scrolled to a focused field would draw its sticky header mid-page in a full-page shot)
    const shootAll = async (target, name) => {
      const top = () => target.evaluate(() => window.scrollTo(0, 0));
      await top();
      await shoot(target, `${name}-desktop-light`);
      await target.emulateMedia({ colorScheme: 'dark' });
      await shoot(target, `${name}-desktop-dark`);
      await target.setViewportSize({ width: 375, height: 812 });
      await target.waitForTimeout(200);
      await top();
      await shoot(target, `${name}-375-dark`);
      await target.emulateMedia({ colorScheme: 'light' });
      await shoot(target, `${name}-375-light`);
      const overflow = await target.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `${name}: no horizontal scrolling at 375 px (page is ${overflow} px too wide)`);
      await target.setViewportSize({ width: 1280, height: 800 });
      await target.waitForTimeout(200);
    };

    // ---- 2. a webhook channel to the receiver, tested
    await page.goto(base + '/settings');
    await page.getByTestId('channel-new').click();
    await page.getByTestId('channel-name').fill('E2E webhook');
    await page.getByTestId('channel-type').selectOption('webhook');
    await page.getByTestId('channel-field-url').fill(receiver.url);
    const [channelsAnswer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/config/notifications' && r.request().method() === 'PUT', { timeout: 15_000 }),
      page.getByTestId('channel-save').click(),
    ]);
    check(channelsAnswer.status() === 200, `saving the channels answered ${channelsAnswer.status()}: ${await channelsAnswer.text()}`);
    const channel = (await channelsAnswer.json()).find((c) => c.name === 'E2E webhook');
    check(channel && channel.type === 'webhook', 'the saved channels hold the new webhook channel');
    const channelId = channel.id;
    await page.getByTestId(`channel-row-${channelId}`).waitFor({ timeout: 15_000 });
    check(!(await page.getByTestId('channel-form').isVisible()), 'the channel editor closed after saving');
    check(JSON.stringify(channel.config ?? {}).includes('••••'), `the channel's URL comes back masked (got ${JSON.stringify(channel.config)})`);
    log(`webhook channel ${channelId} added (receiver ${receiver.url}; shown back masked)`);

    const testClickedAt = Date.now();
    await page.getByTestId(`channel-test-${channelId}`).click();
    const testRequest = await receiver.waitFor('"test" request', (r) => eventOf(r) === 'test', 15_000);
    const testResult = page.getByTestId(`channel-test-result-${channelId}`);
    await page.waitForFunction(
      (id) => document.querySelector(`[data-testid="channel-test-result-${id}"]`)?.getAttribute('data-delivered') === 'true',
      channelId,
      { timeout: 15_000 },
    );
    const testShownAt = Date.now();
    check(testRequest.method === 'POST', `the webhook is a POST (got ${testRequest.method})`);
    check(/^application\/json/.test(testRequest.headers['content-type'] ?? ''), `the webhook body is JSON (${testRequest.headers['content-type']})`);
    check(!!testRequest.headers['idempotency-key'], 'the webhook sends an Idempotency-Key');
    check(testRequest.body.version === '4' && Array.isArray(testRequest.body.alerts), 'the webhook body is Alertmanager-shaped (version 4, alerts)');
    log(`channel test: receiver got "test" ${secs(testRequest.at - testClickedAt)} after the click, the row says "${(await testResult.textContent()).trim()}" after ${secs(testShownAt - testClickedAt)}`);
    await shootAll(page, 'settings-channels');

    // ---- 4. (set up first) a dashboard tab opened before the rule exists, never reloaded
    watch = await context.newPage();
    observe(watch);
    await watch.goto(base + '/');
    await watch.getByTestId(`host-row-${hostId}`).waitFor({ timeout: 15_000 });
    await watch.getByTestId('active-alerts-panel').waitFor({ timeout: 15_000 });
    await watch.evaluate(() => { window.__vigilNoReload = true; });

    // ---- 3. a rule: a condition that does not parse, then one true at once
    await page.goto(base + '/alerts');
    await page.getByTestId('alerts-tab-rules').click();
    await page.getByTestId('rule-new').click();
    await page.getByTestId('rule-editor').waitFor({ timeout: 15_000 });
    await page.getByTestId('rule-name').fill('E2E any CPU');
    const bad = 'host.cpu.percent >';
    const [badAnswer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/alerts/rules/validate', { timeout: 15_000 }),
      page.getByTestId('rule-condition').fill(bad),
    ]);
    check(badAnswer.status() === 422, `validating "${bad}" answered ${badAnswer.status()}`);
    const caret = page.getByTestId('rule-condition-caret');
    await caret.waitFor({ timeout: 15_000 });
    const errorText = ((await page.getByTestId('rule-condition-error').textContent()) ?? '').trim();
    const column = Number(await caret.getAttribute('data-column'));
    check(new RegExp(`^column ${column}: `).test(errorText), `the condition error names column ${column} (got "${errorText}")`);
    check(column === bad.length + 1, `the error is at the end of "${bad}" (column ${column})`);
    const caretLines = ((await caret.textContent()) ?? '').split('\n');
    check(caretLines[0] === bad && caretLines[1] === `${' '.repeat(column - 1)}^`, `the caret sits under column ${column}: ${JSON.stringify(caretLines)}`);
    check((await page.getByTestId('rule-condition').getAttribute('aria-invalid')) === 'true', 'the condition field is marked invalid');
    log(`bad condition "${bad}" → 422, caret under column ${column}: "${errorText}"`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shoot(page, 'alerts-rule-error-desktop-light');

    await page.getByTestId('rule-condition').fill('host.cpu.percent >= 0');
    await page.waitForFunction(() => document.querySelector('[data-testid="rule-condition-status"]')?.getAttribute('data-state') === 'ok', null, { timeout: 15_000 });
    check(!(await caret.isVisible()), 'the caret is gone once the condition is valid');
    await page.getByTestId('rule-duration').fill('0s');
    await page.getByTestId('rule-severity').selectOption('critical');
    await page.getByTestId('rule-message').fill('E2E {{host.name}} {{value}}');
    await page.getByTestId(`rule-channel-${channelId}`).check();
    log(`valid condition: "${((await page.getByTestId('rule-condition-status').textContent()) ?? '').trim()}"`);
    await page.getByTestId('rule-preview').click();
    const preview = page.getByTestId('rule-preview-result');
    await preview.waitFor({ timeout: 15_000 });
    const matches = Number(await preview.getAttribute('data-matches'));
    check(matches >= 1, `the preview matches the local host (got ${matches})`);
    log(`preview: ${matches} match(es): "${((await preview.locator('p').textContent()) ?? '').trim()}"`);
    await shootAll(page, 'alerts-rule-editor');

    const [ruleAnswer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/alerts/rules' && r.request().method() === 'POST', { timeout: 15_000 }),
      page.getByTestId('rule-save').click(),
    ]);
    const savedAt = Date.now();
    check(ruleAnswer.status() === 201, `creating the rule answered ${ruleAnswer.status()}: ${await ruleAnswer.text()}`);
    const rule = await ruleAnswer.json();
    check(rule.duration === '0s' && rule.severity === 'critical' && rule.channels?.[0] === channelId, `the rule was saved as filled in: ${JSON.stringify(rule)}`);
    await page.getByTestId(`rule-row-${rule.id}`).waitFor({ timeout: 15_000 });
    log(`rule ${rule.id} saved ("${rule.condition}", for ${rule.duration}, ${rule.severity}, scope ${rule.scope})`);

    // ---- 4. the alert fires: on the dashboard live, and at the receiver
    const firingPromise = receiver.waitFor('"firing" request for the rule', (r) => eventOf(r) === 'firing' && r.body.commonLabels?.rule_id === rule.id);
    const liveRow = watch.locator('[data-testid^="alert-row-"]', { hasText: 'E2E ' }).first();
    await liveRow.waitFor({ timeout: 30_000 });
    const onScreenAt = Date.now();
    const alertId = (await liveRow.getAttribute('data-testid')).slice('alert-row-'.length);
    const firing = await firingPromise;
    check(firing.body.vigil.alert_id === alertId, `the firing webhook is about the alert on screen (${firing.body.vigil.alert_id} vs ${alertId})`);
    const description = firing.body.alerts?.[0]?.annotations?.description ?? '';
    check(description.startsWith('E2E '), `the firing webhook carries the rule's message (got "${description}")`);
    check(firing.body.status === 'firing' && firing.body.alerts[0].status === 'firing', 'the firing webhook says firing');
    check(firing.body.commonLabels.host_id === hostId && firing.body.commonLabels.severity === 'critical', `the firing webhook labels the host and severity: ${JSON.stringify(firing.body.commonLabels)}`);
    const messageOnScreen = ((await watch.getByTestId(`alert-message-${alertId}`).textContent()) ?? '').trim();
    check(messageOnScreen === description, `the dashboard shows the same message ("${messageOnScreen}" vs "${description}")`);
    check((await liveRow.getAttribute('data-status')) === 'firing' && (await liveRow.getAttribute('data-severity')) === 'critical', 'the row is a firing critical alert');
    await watch.waitForFunction(() => Number(document.querySelector('[data-testid="card-alerts-value"]')?.textContent) >= 1, null, { timeout: 15_000 });
    const cardValue = ((await watch.getByTestId('card-alerts-value').textContent()) ?? '').trim();
    const badge = watch.getByTestId(`host-alerts-${hostId}`);
    await badge.waitFor({ timeout: 15_000 });
    const badgeCount = Number(await badge.getAttribute('data-count'));
    check(badgeCount >= 1 && (await badge.getAttribute('data-severity')) === 'critical', `the host badge counts the critical alert (count ${badgeCount})`);
    check(await watch.evaluate(() => window.__vigilNoReload === true), 'the alert arrived on the dashboard live (no reload)');
    log(`alert ${alertId} on the dashboard ${secs(onScreenAt - savedAt)} after the rule was saved, live (card ${cardValue}, host badge ${badgeCount}): "${messageOnScreen}"`);
    log(`webhook "firing" received ${secs(firing.at - savedAt)} after the rule was saved (on the dashboard: ${secs(onScreenAt - savedAt)})`);

    // the Alerts page lists it too (this tab has the Rules tab open: switch to Active)
    await page.getByTestId('alerts-tab-active').click();
    await page.getByTestId(`alert-row-${alertId}`).waitFor({ timeout: 15_000 });
    await shootAll(page, 'alerts');
    await shootAll(watch, 'dashboard-alert');

    // ---- 5. Ack on the dashboard
    const ackedAt = Date.now();
    const [ackAnswer] = await Promise.all([
      watch.waitForResponse((r) => new URL(r.url()).pathname === `/api/alerts/${alertId}/acknowledge`, { timeout: 15_000 }),
      watch.getByTestId(`alert-ack-${alertId}`).click(),
    ]);
    check(ackAnswer.status() === 200, `acknowledging answered ${ackAnswer.status()}: ${await ackAnswer.text()}`);
    await watch.waitForFunction((id) => document.querySelector(`[data-testid="alert-row-${id}"]`)?.getAttribute('data-status') === 'acknowledged', alertId, { timeout: 15_000 });
    const ackShownAt = Date.now();
    const ackedText = ((await watch.getByTestId(`alert-acked-${alertId}`).textContent()) ?? '').trim();
    check(ackedText.includes('admin@localhost'), `the row says who acknowledged it (got "${ackedText}")`);
    check((await watch.getByTestId(`alert-ack-${alertId}`).count()) === 0, 'no Ack button on an acknowledged alert');
    // the other tab hears it over its own socket
    await page.waitForFunction((id) => document.querySelector(`[data-testid="alert-row-${id}"]`)?.getAttribute('data-status') === 'acknowledged', alertId, { timeout: 15_000 });
    const ackOtherTabAt = Date.now();
    const acked = await receiver.waitFor('"acknowledged" request', (r) => eventOf(r) === 'acknowledged' && r.body.vigil.alert_id === alertId, 15_000);
    check(acked.body.vigil.acknowledged_by === 'admin@localhost', `the acknowledged webhook says by whom (got ${acked.body.vigil.acknowledged_by})`);
    log(`ack: "${ackedText}" on the dashboard ${secs(ackShownAt - ackedAt)} after the click, on the Alerts tab ${secs(ackOtherTabAt - ackedAt)}; webhook "acknowledged" received ${secs(acked.at - ackedAt)} after the click`);

    // ---- 6. resolve: the rule is edited to a condition that is false
    await page.getByTestId('alerts-tab-rules').click();
    await page.getByTestId(`rule-edit-${rule.id}`).click();
    await page.getByTestId('rule-editor').waitFor({ timeout: 15_000 });
    check((await page.getByTestId('rule-condition').inputValue()) === 'host.cpu.percent >= 0', 'the editor opens with the rule\'s condition');
    await page.getByTestId('rule-condition').fill('host.cpu.percent < 0');
    await page.waitForFunction(() => document.querySelector('[data-testid="rule-condition-status"]')?.getAttribute('data-state') === 'ok', null, { timeout: 15_000 });
    const [updateAnswer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === `/api/alerts/rules/${rule.id}` && r.request().method() === 'PUT', { timeout: 15_000 }),
      page.getByTestId('rule-save').click(),
    ]);
    const editedAt = Date.now();
    check(updateAnswer.status() === 200, `updating the rule answered ${updateAnswer.status()}: ${await updateAnswer.text()}`);
    const updated = await updateAnswer.json();
    check(updated.condition === 'host.cpu.percent < 0' && updated.channels?.[0] === channelId && updated.message === rule.message, `the edit kept the rest of the rule: ${JSON.stringify(updated)}`);
    await page.getByTestId('rule-editor').waitFor({ state: 'detached', timeout: 15_000 });
    const resolved = await receiver.waitFor('"resolved" request', (r) => eventOf(r) === 'resolved' && r.body.vigil.alert_id === alertId, 30_000);
    check(resolved.body.status === 'resolved' && !!resolved.body.vigil.resolved_at, 'the resolved webhook says resolved, with the time');
    await watch.getByTestId(`alert-row-${alertId}`).waitFor({ state: 'detached', timeout: 30_000 });
    const goneAt = Date.now();
    check(await watch.evaluate(() => window.__vigilNoReload === true), 'the dashboard tab was never reloaded');
    log(`resolve: webhook "resolved" received ${secs(resolved.at - editedAt)} after the rule was edited; the row left the dashboard after ${secs(goneAt - editedAt)}`);
    await shootAll(page, 'alerts-rules');

    await page.getByTestId('alerts-tab-history').click();
    const historyRow = page.getByTestId(`history-row-${alertId}`);
    await historyRow.waitFor({ timeout: 15_000 });
    await page.getByTestId('history-table').waitFor();
    check(((await historyRow.textContent()) ?? '').includes(description), 'the history row shows the alert\'s message');
    const newest = await page.locator('[data-testid="history-table"] tbody tr').first().getAttribute('data-testid');
    check(newest === `history-row-${alertId}`, `the history lists the alert resolved last first (first row: ${newest})`);
    log(`history lists alert ${alertId} (${await page.getByTestId('history-table').getAttribute('data-count')} resolved alert(s))`);
    await shootAll(page, 'alerts-history');

    const events = receiver.requests.filter((r) => r.body?.vigil?.alert_id === alertId).map(eventOf);
    check(JSON.stringify(events) === JSON.stringify(['firing', 'acknowledged', 'resolved']), `the receiver got firing, acknowledged, resolved for the alert, once each (got ${events.join(', ')})`);
    log(`webhook receiver: ${receiver.requests.length} request(s), for the alert: ${events.join(' → ')}`);
  } catch (error) {
    if (watch) await shoot(watch, 'failure-dashboard-tab').catch(() => {});
    throw error;
  } finally {
    if (watch) await watch.close();
    await receiver.close();
  }
}
