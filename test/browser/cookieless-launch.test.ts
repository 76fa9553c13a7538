import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startDemo, type Demo } from '../demo.js';
import { LEARNERS, TEACHER } from '../fixtures/sample-course.js';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { freePort, LogCapture } from '../helpers/tool.js';

/**
 * The LMS (127.0.0.1) frames the tool (localhost): another site, so the tool's cookies in the
 * iframe are third-party, and Chromium is told to block those as Safari does.
 */
describe('launching inside the LMS iframe with third-party cookies blocked', () => {
  let demo: Demo;
  let browser: Browser;

  beforeAll(async () => {
    demo = await startDemo({ toolPort: await freePort(), lmsPort: await freePort(), dataDir: path.join(os.tmpdir(), `microcred-cookieless-${process.pid}`), logStream: new LogCapture(), crossSite: true });
    browser = await launchChromium(['--test-third-party-cookie-phaseout']);
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  /** Every launch POST the tool received in this page, and whether it was the storage confirmation. */
  const launchPosts = (page: Page) => {
    const posts: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url() === `${demo.tool.config.publicUrl}/lti/launch`) posts.push(r.postData()?.includes('lti_storage_ticket') ? 'storage-confirmation' : 'id_token');
    });
    return posts;
  };

  test('with platform storage, the launch keeps its state in the LMS page and needs no cookie', async () => {
    const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1024, height: 768 } });
    const page = await context.newPage();
    const posts = launchPosts(page);
    await page.goto(demo.launch(LEARNERS.find((l) => l.locale === 'ja')!.id, { presentation: 'iframe' }));
    const frame = page.frameLocator('iframe#contentframe');
    await frame.getByTestId('role').waitFor();
    expect(await frame.getByTestId('role').textContent()).toBe('受講者');
    expect(posts).toEqual(['id_token', 'storage-confirmation']);
    // The browser really refused the tool's cookies inside the frame.
    expect((await context.cookies(demo.tool.config.publicUrl)).filter((c) => c.name.startsWith('state'))).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'cookieless-storage-launch-ja.png'), fullPage: true });
    await context.close();
  });

  test('without platform storage, the tool offers a new window, where the launch completes', async () => {
    const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1024, height: 768 } });
    const page = await context.newPage();
    await page.goto(demo.launch(TEACHER.id, { presentation: 'iframe', platformStorage: false }));
    const frame = page.frameLocator('iframe#contentframe');
    await frame.getByTestId('cookies-blocked').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'cookieless-new-window-prompt-en.png') });
    const [popup] = await Promise.all([context.waitForEvent('page'), frame.getByTestId('open-new-window').dispatchEvent('click')]);
    await popup.getByTestId('role').waitFor();
    expect(await popup.getByTestId('role').textContent()).toBe('教員');
    expect(popup.url()).toContain(`${demo.tool.config.publicUrl}/lti/launch?ltik=`);
    await context.close();
  });
});
