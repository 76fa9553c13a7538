import path from 'node:path';
import type { Browser } from 'playwright-core';
import { startDemo, type Demo } from '../demo.js';
import { SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { freePort, LogCapture } from '../helpers/tool.js';
import os from 'node:os';

describe('the demo in a real browser', () => {
  let demo: Demo;
  let browser: Browser;

  beforeAll(async () => {
    demo = await startDemo({ toolPort: await freePort(), lmsPort: await freePort(), dataDir: path.join(os.tmpdir(), `microcred-demo-${process.pid}`), logStream: new LogCapture() });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const open = async (url: string, locale: string) => {
    const context = await browser.newContext({ locale, viewport: { width: 1024, height: 768 } });
    const page = await context.newPage();
    await page.goto(url);
    return { page, context };
  };

  test('a teacher launches from the LMS and lands on the course page', async () => {
    const { page, context } = await open(demo.urls.teacher, 'ja-JP');
    await page.getByTestId('course-title').waitFor();
    expect(page.url()).toContain(`${demo.tool.config.publicUrl}/lti/launch?ltik=`);
    expect(await page.getByTestId('course-title').textContent()).toBe(SAMPLE_COURSE.title);
    expect(await page.getByTestId('user-name').textContent()).toContain(TEACHER.name);
    expect(await page.getByTestId('role').textContent()).toBe('教員');
    await page.screenshot({ path: path.join(ARTIFACTS, 'launch-teacher-ja.png'), fullPage: true });
    await context.close();
  });

  test('learners land on the learner page in their launch language', async () => {
    for (const [url, role, file] of [[demo.urls.learnerJa, '受講者', 'launch-learner-ja.png'], [demo.urls.learnerEn, 'Learner', 'launch-learner-en.png']] as const) {
      const { page, context } = await open(url, 'en-GB');
      await page.getByTestId('role').waitFor();
      expect(await page.getByTestId('role').textContent()).toBe(role);
      await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
      await context.close();
    }
  });

  test('the launch works inside the LMS page\'s iframe, on a small screen', async () => {
    const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(demo.urls.teacherEmbedded);
    const frame = page.frameLocator('iframe');
    await frame.getByTestId('course-title').waitFor();
    expect(await frame.getByTestId('role').textContent()).toBe('教員');
    await page.screenshot({ path: path.join(ARTIFACTS, 'launch-teacher-embedded-mobile.png'), fullPage: true });
    await context.close();
  });

  test('an administrator sees the platform registration', async () => {
    const { page, context } = await open(demo.urls.admin, 'en-GB');
    await page.getByTestId('role').waitFor();
    expect(await page.getByTestId('role').textContent()).toBe('Administrator');
    await page.screenshot({ path: path.join(ARTIFACTS, 'launch-admin-en.png'), fullPage: true });
    await context.close();
  });

  test('a teacher places the tool in the course with Deep Linking', async () => {
    const { page, context } = await open(demo.urls.deepLinking, 'ja-JP');
    await page.getByRole('button', { name: 'コースに追加' }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'deep-linking-picker-ja.png'), fullPage: true });
    await page.getByRole('button', { name: 'コースに追加' }).click();
    await page.waitForURL(`${demo.emulator.url}/**`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'deep-linking-returned.png'), fullPage: true });
    expect(demo.emulator.deepLinkingResponses).toEqual([expect.objectContaining({ contentItems: [expect.objectContaining({ type: 'ltiResourceLink', url: `${demo.tool.config.publicUrl}/lti/launch` })] })]);
    await context.close();
  });
});
