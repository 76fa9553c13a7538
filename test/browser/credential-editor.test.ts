import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { startDemo, type Demo } from '../demo.js';
import { ACTIVITIES } from '../fixtures/sample-course.js';
import { ARTIFACTS, launchChromium } from '../helpers/browser.js';
import { fillCredentialForm } from '../helpers/credential-form.js';
import { freePort, LogCapture } from '../helpers/tool.js';

describe('the criteria builder in a real browser', () => {
  let demo: Demo;
  let browser: Browser;

  beforeAll(async () => {
    demo = await startDemo({ toolPort: await freePort(), lmsPort: await freePort(), dataDir: path.join(os.tmpdir(), `microcred-editor-${process.pid}`), logStream: new LogCapture() });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  test('a teacher builds a group inside a group on a phone-sized screen, and saves it', async () => {
    const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const scriptErrors: string[] = [];
    page.on('pageerror', (err) => scriptErrors.push(err.message));
    await page.goto(demo.urls.teacher);
    await page.getByTestId('new-credential').click();
    await page.locator('#criteria-builder h3').waitFor();
    const key = (k: string) => page.locator(`[data-key="${k}"]`);
    const lineItems = (JSON.parse((await page.locator('#criteria-builder-data').textContent())!) as { lineItems: Array<{ id: string }> }).lineItems;
    const [quiz1, , essay] = lineItems;

    await fillCredentialForm(page, {
      name: 'データ活用 / Using data', description: 'データを活用できることを証明します。', criteriaNarrative: '小テスト70%以上、かつレポートまたは完了。',
      learningOutcome: 'データを可視化できる', assessmentType: 'assignment', qualityAssurance: 'Internal review',
    });

    // The new page starts with "all of" and a score on the first column; the JSON is tucked away.
    expect(await page.locator('#criteria-json').getAttribute('open')).toBeNull();
    await key('node/children/0:threshold').fill('70');
    await key('node/:addGroup').click();
    expect(await page.locator(':focus').getAttribute('data-key')).toBe('node/children/1:type');
    await key('node/children/1:type').selectOption('anyOf');
    await key('node/children/1/children/0:lineItem').selectOption({ label: `${ACTIVITIES[2]!.label} (essay)` });
    await key('node/children/1:newType').selectOption('completion');
    await key('node/children/1:addRule').press('Enter');

    const built = {
      type: 'allOf',
      children: [
        { type: 'score', select: { lineItemId: quiz1!.id }, minPercent: 70 },
        { type: 'anyOf', children: [
          { type: 'score', select: { lineItemId: essay!.id }, minPercent: 60 },
          { type: 'completion', select: { lineItemId: quiz1!.id }, require: 'completed' },
        ] },
      ],
    };
    expect(JSON.parse(await page.inputValue('#f-criteria'))).toEqual(built);

    // And back: the JSON, edited by hand, redraws the builder.
    await page.locator('#criteria-json summary').click();
    const edited = structuredClone(built);
    edited.children[0]!.minPercent = 75;
    await page.fill('#f-criteria', JSON.stringify(edited));
    expect(await key('node/children/0:threshold').inputValue()).toBe('75');
    await page.screenshot({ path: path.join(ARTIFACTS, 'credential-editor-builder-mobile.png'), fullPage: true });

    await page.getByTestId('save').click();
    await page.waitForURL('**/lti/launch?ltik=*');
    expect(await page.getByTestId('staff-credentials').textContent()).toContain('データ活用 / Using data');
    const stored = await demo.tool.database.db.selectFrom('credential_revision').select('criteria').execute();
    expect(stored.map((r) => r.criteria)).toEqual([edited]);
    expect(scriptErrors).toEqual([]);
    await context.close();
  });
});
