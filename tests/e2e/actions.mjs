// Remote actions end to end, in the browser against the real stack (run.mjs
// calls `checkActions` while the local agent reports every second). The
// local agent's config allows `exec echo *` (stack.mjs writes its `actions:`
// section) and `vigil up` pinned the server's action key in its state dir:
//
// 1. host page → Actions ▾ → "run a command": `id` is predicted refused
//    (no entry names it), the confirm button stays disabled with the reason;
// 2. `echo vigil e2e` is predicted allowed (rule `exec echo *`), confirmed,
//    and its status goes live to success with the output, from the real agent;
// 3. the Actions page lists it; its detail shows the command, the rule and
//    the output.
//
// Screenshots: host-actions-dialog (desktop light), actions (desktop light
// and dark, 375 px), action-detail (desktop light).
import { log } from './stack.mjs';

export async function checkActions({ page, base, hostId, check, shoot }) {
  await page.goto(`${base}/hosts/${hostId}`);
  await page.getByTestId('host-actions-menu').click();
  await page.getByTestId('host-actions-item-exec').click();
  const dialog = page.getByTestId('action-dialog');
  await dialog.waitFor({ timeout: 15_000 });
  const input = page.getByTestId('action-input');

  await input.fill('id');
  await page.waitForFunction(() => document.querySelector('[data-testid="action-verdict"]')?.getAttribute('data-allowed') === 'false');
  const refusal = ((await page.getByTestId('action-verdict').textContent()) ?? '').trim();
  check(/exec/.test(refusal), `a command no entry names is predicted refused, with why (got "${refusal}")`);
  check(await page.getByTestId('action-confirm').isDisabled(), 'the confirm button is disabled for a refused command');

  await input.fill('echo vigil e2e');
  await page.waitForFunction(() => document.querySelector('[data-testid="action-verdict"]')?.getAttribute('data-allowed') === 'true');
  const command = ((await page.getByTestId('action-command').textContent()) ?? '').trim();
  check(command === 'exec echo vigil e2e', `the dialog shows the canonical command (got "${command}")`);
  await shoot(page, 'host-actions-dialog-desktop-light');
  const sent = Date.now();
  await page.getByTestId('action-confirm').click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="action-live"] [data-testid="action-status"]')?.getAttribute('data-status') === 'success',
    null,
    { timeout: 30_000 },
  );
  const output = ((await page.getByTestId('action-live-output').textContent()) ?? '').trim();
  check(output === 'vigil e2e', `the real agent's output arrives live (got "${output}")`);
  log(`exec "echo vigil e2e": success on screen ${Date.now() - sent} ms after the click`);
  const detailHref = await page.getByTestId('action-detail-link').getAttribute('href');
  await page.getByTestId('action-close').click();

  await page.goto(`${base}/actions`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="actions-table"]')?.getAttribute('data-count') ?? 0) >= 1);
  const id = decodeURIComponent(detailHref.split('/').pop());
  const row = page.getByTestId(`action-row-${id}`);
  check((await row.getAttribute('data-status')) === 'success', 'the Actions page lists the action as success');
  await shoot(page, 'actions-desktop-light');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shoot(page, 'actions-desktop-dark');
  await page.setViewportSize({ width: 375, height: 812 });
  await shoot(page, 'actions-mobile-dark');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });

  await row.click();
  await page.getByTestId('action-detail').waitFor({ timeout: 15_000 });
  const detail = {
    command: ((await page.getByTestId('action-command').textContent()) ?? '').trim(),
    rule: ((await page.getByTestId('action-rule').textContent()) ?? '').trim(),
    output: ((await page.getByTestId('action-output').textContent()) ?? '').trim(),
  };
  check(detail.command === 'exec echo vigil e2e' && detail.rule === 'exec echo *' && detail.output === 'vigil e2e',
    `the detail shows command, rule and output (got ${JSON.stringify(detail)})`);
  await shoot(page, 'action-detail-desktop-light');
  log('actions: refused prediction, live success with output, log and detail');
}
