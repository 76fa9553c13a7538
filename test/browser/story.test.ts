import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startDemo, type Demo } from '../demo.js';
import { LEARNERS, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { seriousViolations } from '../helpers/axe.js';
import { fillCredentialForm } from '../helpers/credential-form.js';
import { freePort, LogCapture } from '../helpers/tool.js';

const STORY = [
  { lang: 'ja', locale: 'ja-JP', learner: LEARNERS.find((l) => l.locale === 'ja')!, reason: '不正行為が確認されたため' },
  { lang: 'en', locale: 'en-GB', learner: LEARNERS.find((l) => l.locale === 'en')!, reason: 'Academic misconduct was confirmed' },
] as const;

/**
 * The whole story, in the demo LMS, in each language: a teacher defines a credential with a nested
 * criterion; grades change in the LMS; a learner sees their progress, claims, downloads, verifies;
 * the teacher revokes; the verification page then says revoked. Screenshots go to test-artifacts/.
 */
describe.each(STORY)('the micro-credential story in $lang', ({ lang, locale, learner, reason }) => {
  let demo: Demo;
  let browser: Browser;
  let credentialName: string;
  let verifyUrl: string;
  const a11y: Record<string, unknown[]> = {};
  const logs = new LogCapture();

  beforeAll(async () => {
    demo = await startDemo({ toolPort: await freePort(), lmsPort: await freePort(), dataDir: path.join(os.tmpdir(), `microcred-story-${lang}-${process.pid}`), logStream: logs, crossSite: true, env: { LOG_LEVEL: 'info' } });
    browser = await launchChromium(['--test-third-party-cookie-phaseout']);
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `story-${lang}-${name}.png`), fullPage: true });
  const check = async (page: Page, name: string) => {
    a11y[name] = await seriousViolations(page);
    await shot(page, name);
  };
  const open = async (userId: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> => {
    const context = await browser.newContext({ locale, viewport: { width: 1024, height: 768 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(demo.launch(userId, { locale: lang }));
    await page.getByTestId('role').waitFor();
    return { context, page, errors };
  };

  test('1. a teacher creates a credential with a nested criterion', async () => {
    const { context, page, errors } = await open(TEACHER.id);
    await check(page, '1-teacher-dashboard');
    await page.getByTestId('new-credential').click();
    await page.locator('#criteria-builder h3').waitFor();
    await check(page, '1-editor');
    const lineItems = (JSON.parse((await page.locator('#criteria-builder-data').textContent())!) as { lineItems: Array<{ id: string; label: string }> }).lineItems;
    const [quiz1, , essay] = lineItems;
    credentialName = lang === 'ja' ? 'データ活用の基礎' : 'Foundations of data use';
    await fillCredentialForm(page, {
      name: credentialName,
      description: lang === 'ja' ? '小テストとレポートでデータ活用の基礎を確認しました。' : 'Shows the basics of using data, assessed by a quiz and an essay.',
      criteriaNarrative: lang === 'ja' ? '小テスト1で70%以上、かつレポート60%以上または小テスト1の完了。' : 'Quiz 1 at 70% or more, and the essay at 60% or more or Quiz 1 completed.',
      learningOutcome: lang === 'ja' ? 'データを可視化できる' : 'Visualise data', assessmentType: 'test', qualityAssurance: 'Faculty curriculum committee',
    });
    await page.locator('#criteria-json summary').click();
    const criteria = {
      type: 'allOf',
      children: [
        { type: 'score', select: { lineItemId: quiz1!.id }, minPercent: 70 },
        { type: 'anyOf', children: [
          { type: 'score', select: { lineItemId: essay!.id }, minPercent: 60 },
          { type: 'completion', select: { lineItemId: quiz1!.id }, require: 'completed' },
        ] },
      ],
    };
    await page.fill('#f-criteria', JSON.stringify(criteria));
    await page.getByTestId('save').click();
    await page.waitForURL('**/lti/launch?ltik=*');
    expect(await page.getByTestId('staff-credentials').textContent()).toContain(credentialName);
    await shot(page, '1-credential-saved');
    expect(errors).toEqual([]);
    await context.close();
  });

  test('2. the learner\'s grades change in the LMS', async () => {
    const [quiz1, , essay] = demo.emulator.lineItems(SAMPLE_COURSE.id);
    const graded = { activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: new Date().toISOString() };
    demo.emulator.setScore(SAMPLE_COURSE.id, quiz1!.id, learner.id, { scoreGiven: 9, scoreMaximum: 10, ...graded });
    demo.emulator.setScore(SAMPLE_COURSE.id, essay!.id, learner.id, { scoreGiven: 82, scoreMaximum: 100, ...graded });
  });

  test('3. the learner sees their progress, claims, downloads, and the verification page says valid', async () => {
    const { context, page, errors } = await open(learner.id);
    const item = page.locator('.credential', { hasText: credentialName });
    expect(await item.getByTestId('credential-status').textContent()).toBe(lang === 'ja' ? '授与済み' : 'Awarded');
    // One bar for the credential, and one per criterion of the nested tree (all of; score; any of; score; completion).
    expect(Number(await item.locator('progress').first().getAttribute('value'))).toBe(100);
    expect(await item.getByTestId('learner-criteria').locator('progress').count()).toBeGreaterThanOrEqual(5);
    expect(await item.getByTestId('criterion').first().textContent()).not.toBe('');
    await check(page, '3-learner-progress');
    await item.getByTestId('claim').click();
    await page.getByTestId('issued-name').waitFor();
    expect(await page.getByTestId('issued-name').textContent()).toBe(credentialName);

    for (const format of ['certificate.pdf', 'credential.json']) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`download-${format}`).click()]);
      const file = path.join(ARTIFACTS, `story-${lang}-${format}`);
      await download.saveAs(file);
      const bytes = readFileSync(file);
      if (format === 'certificate.pdf') expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
      else expect((JSON.parse(bytes.toString('utf8')) as { type: string[] }).type).toContain('OpenBadgeCredential');
    }
    await page.getByTestId('share-toggle').click();
    await page.getByTestId('share-url').waitFor();
    await check(page, '3-claimed-credential');
    verifyUrl = (await page.getByTestId('verify-link').getAttribute('href'))!;
    const [verification] = await Promise.all([context.waitForEvent('page'), page.getByTestId('verify-link').click()]);
    await verification.getByTestId('verdict').waitFor();
    expect(await verification.getByTestId('verdict').getAttribute('data-verdict')).toBe('valid');
    a11y['3-verify-valid'] = await seriousViolations(verification);
    await verification.screenshot({ path: path.join(ARTIFACTS, `story-${lang}-3-verify-valid.png`), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  test('3b. the learner\'s credit record holds the credential, and exports it as a signed CLR', async () => {
    const { context, page, errors } = await open(learner.id);
    await page.getByTestId('open-record').click();
    await page.getByTestId('record-credentials').waitFor();
    expect(await page.getByTestId('record-credentials').locator('tbody tr', { hasText: credentialName }).count()).toBe(1);
    await check(page, '3-credit-record');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-clr').click()]);
    const file = path.join(ARTIFACTS, `story-${lang}-clr.json`);
    await download.saveAs(file);
    const clr = JSON.parse(readFileSync(file, 'utf8')) as { type: string[]; credentialSubject: { verifiableCredential: unknown[] } };
    expect(clr.type).toEqual(['VerifiableCredential', 'ClrCredential']);
    expect(clr.credentialSubject.verifiableCredential).toHaveLength(1);
    expect(errors).toEqual([]);
    await context.close();
  });

  test('4. the teacher revokes with a reason, and the verification page says revoked', async () => {
    const { context, page, errors } = await open(TEACHER.id);
    await page.locator('[data-testid="staff-credential"]', { hasText: credentialName }).getByTestId('open-credential-dashboard').click();
    await page.getByTestId('learners').waitFor();
    // Before the course is read, the table knows the learners who launched, by the name their launch gave.
    expect(await page.getByTestId('learner-name').allTextContents()).toEqual([learner.name]);
    await page.getByTestId('roster-unread').getByRole('button').click();
    await page.getByTestId('sync-done').waitFor();
    await check(page, '4-grades-read');
    await page.getByRole('link').filter({ hasText: lang === 'ja' ? 'ダッシュボード' : 'dashboard' }).first().click();
    await page.locator('[data-testid="staff-credential"]', { hasText: credentialName }).getByTestId('open-credential-dashboard').click();
    await page.getByTestId('learners').waitFor();
    expect(await page.getByTestId('learner-row').count()).toBe(30);
    expect(await page.getByTestId('roster-unread').count()).toBe(0);
    await check(page, '4-learners-table');
    await page.locator(`[data-testid="learner-row"][data-user-id="${learner.id}"]`).getByTestId('learner-name').click();
    await page.getByTestId('learner-status').waitFor();
    await page.locator('textarea[name="reason"]').fill(reason);
    await check(page, '4-learner-before-revoke');
    await page.getByTestId('revoke-one').click();
    await page.waitForLoadState();
    await shot(page, '4-revoked');
    expect(errors).toEqual([]);

    const verification = await context.newPage();
    await verification.goto(verifyUrl);
    expect(await verification.getByTestId('verdict').getAttribute('data-verdict')).toBe('revoked');
    await verification.screenshot({ path: path.join(ARTIFACTS, `story-${lang}-4-verify-revoked.png`), fullPage: true });
    await context.close();
  });

  test('the logs of the whole story hold no ltik, id_token, key or credential proof', () => {
    const text = logs.text();
    expect(logs.lines.length).toBeGreaterThan(20);
    // JWTs (ltiks, id_tokens, client assertions) start with a base64url JSON header.
    expect(text).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/);
    expect(text).not.toContain(demo.tool.config.ltiEncryptionKey);
    expect(text).not.toMatch(/proofValue|privateKeyMultibase|BEGIN PRIVATE KEY/);
  });

  test('every page of the story has no serious or critical accessibility violation (axe-core)', () => {
    expect(Object.keys(a11y).length).toBeGreaterThanOrEqual(9);
    expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((k) => [k, []])));
  });
});
