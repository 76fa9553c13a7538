import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startDemo, type Demo } from '../demo.js';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { seriousViolations } from '../helpers/axe.js';
import { freePort, LogCapture } from '../helpers/tool.js';

const PASSWORD = 'correct horse battery staple';

/** The admin screens, both ways in, in a real browser: what they show, and axe-core on each. */
describe('the admin screens in a real browser', () => {
  let demo: Demo;
  let browser: Browser;

  beforeAll(async () => {
    demo = await startDemo({ toolPort: await freePort(), lmsPort: await freePort(), dataDir: path.join(os.tmpdir(), `microcred-admin-${process.pid}`), logStream: new LogCapture(), env: { ADMIN_PASSWORD: PASSWORD } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const visit = async (page: Page, name: string, a11y: Record<string, unknown[]>) => {
    await page.screenshot({ path: path.join(ARTIFACTS, `admin-${name}.png`), fullPage: true });
    a11y[name] = await seriousViolations(page);
  };

  test('the local admin signs in and walks platforms, issuers, keys and the audit log (en, and ja on a phone)', async () => {
    const a11y: Record<string, unknown[]> = {};
    for (const [locale, viewport] of [['en-GB', { width: 1024, height: 768 }], ['ja-JP', { width: 390, height: 844 }]] as const) {
      const context = await browser.newContext({ locale, viewport });
      const page = await context.newPage();
      await page.goto(`${demo.tool.config.publicUrl}/admin`);
      await page.locator('#password').waitFor();
      await visit(page, `${locale}-login`, a11y);
      await page.fill('#password', PASSWORD);
      await page.locator('button[type="submit"]').click();
      await page.waitForLoadState();
      for (const screen of ['platforms', 'issuers', 'audit']) {
        await page.goto(`${demo.tool.config.publicUrl}/admin/${screen}`);
        expect(page.url()).toContain(`/admin/${screen}`);
        await visit(page, `${locale}-${screen}`, a11y);
      }
      expect(await page.content()).toContain('platform.register');
      await context.close();
    }
    expect(Object.keys(a11y)).toHaveLength(8);
    expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((k) => [k, []])));
  });

  test('an LMS administrator reaches their platform\'s admin screens from the launch', async () => {
    const a11y: Record<string, unknown[]> = {};
    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(demo.urls.admin);
    await page.getByTestId('role').waitFor();
    await visit(page, 'lti-launch', a11y);
    for (const screen of ['platforms', 'issuers', 'audit']) {
      await page.locator(`a[href^="/app/admin/${screen}?ltik="]`).first().click();
      await page.waitForURL(`**/app/admin/${screen}?**`);
      await visit(page, `lti-${screen}`, a11y);
    }
    expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((k) => [k, []])));
    await context.close();
  });
});
