import { ACTIVITIES, LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const ENGLISH_TEACHER = { id: 'teacher-brown', name: 'Alex Brown', givenName: 'Alex', familyName: 'Brown', email: 'alex.brown@example.ac.jp', locale: 'en' };

interface Session { browser: LtiBrowser; ltik: string }
interface BuilderData { lineItems: Array<{ id: string; label: string; tag: string | null }>; errors: Array<{ path: string; message: string }>; strings: Record<string, unknown> }

/** The form fields of a valid credential, as the editor posts them. */
const validForm = (criteria: unknown): Record<string, string> => ({
  name: 'データ分析基礎 / Data analysis basics', description: '小テストとレポートで評価します。', criteriaNarrative: 'Quizzes, and the essay or the final exam.',
  learningOutcomes: '記述統計を計算できる\nデータを可視化できる', tags: 'statistics, python', language: 'ja', version: '1.0',
  imageUrl: '', imageCaption: '', workloadHours: '12', ectsCredits: '0.5', eqfLevel: '5', nqfLevel: '', assessmentTypes: 'test',
  participation: 'online', qualityAssurance: 'Internal review', awardingBodyName: 'Example University', awardingBodyUrl: 'https://example.ac.jp',
  awardingCountry: 'JP', prerequisitesText: '', supervision: 'supervised_online', identityVerified: 'true', stackability: '', validForMonths: '24',
  autoIssue: 'true', 'alignment-0-targetName': 'Statistics', 'alignment-0-targetUrl': 'https://esco.ec.europa.eu/skill/statistics',
  'alignment-0-targetType': 'ext:ESCOSkill', 'alignment-1-targetName': '', 'alignment-1-targetUrl': '',
  criteria: JSON.stringify(criteria),
});

const builderData = (html: string): BuilderData => {
  const json = /<script type="application\/json" id="criteria-builder-data">([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (!json) throw new Error('no builder data in the page');
  return JSON.parse(json) as BuilderData;
};

/** The text of the error shown next to a field (its aria-describedby target). */
const fieldError = (html: string, field: string) => {
  const p = new RegExp(`<p class="field-error" id="e-${field}">([\\s\\S]*?)</p>`).exec(html)?.[1];
  return p?.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim();
};

describe('the credential editor', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let teacher: Session;
  /** A second teacher whose LMS language is English; TEACHER's is Japanese, and the launch's locale wins. */
  let englishTeacher: Session;
  let lineItems: BuilderData['lineItems'];

  const session = async (userId: string, lang = 'en', courseId = SAMPLE_COURSE.id): Promise<Session> => {
    const browser = new LtiBrowser(lang);
    const page = await browser.launch(lms.emu, { userId, courseId, resourceLinkId: courseId === SAMPLE_COURSE.id ? RESOURCE_LINK.id : 'rl-other', clientId: lms.clientId });
    expect(page.status).toBe(200);
    return { browser, ltik: page.ltik! };
  };
  const page = async (who: Session, path: string) => {
    const res = await who.browser.fetch(`${tool.url}${path}${path.includes('?') ? '&' : '?'}ltik=${encodeURIComponent(who.ltik)}`);
    return { status: res.status, html: await res.text() };
  };
  const post = async (who: Session, path: string, form: Record<string, string>) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { form: { ...form, ltik: who.ltik } });
    return { status: res.status, location: res.headers.get('location'), html: await res.text() };
  };
  const api = async (who: Session, method: string, path: string, json?: unknown) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { method, bearer: who.ltik, ...(json === undefined ? {} : { json }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const storedCount = async () => (await tool.database.db.selectFrom('credential_revision').select('credential_id').execute()).length;

  /** Quizzes at 60%, and (the essay at 70 points or at least 1 of the final exam at 80%): a group inside a group. */
  const nestedCriteria = () => ({
    type: 'allOf',
    children: [
      { type: 'score', select: { tag: 'quiz' }, minPercent: 60 },
      { type: 'anyOf', label: { en: 'Essay or final' }, children: [
        { type: 'score', select: { lineItemId: lineItems.find((li) => li.tag === 'essay')!.id }, minPoints: 70 },
        { type: 'atLeast', n: 1, children: [{ type: 'score', select: { lineItemId: lineItems.find((li) => li.tag === 'exam')!.id }, minPercent: 80 }] },
      ] },
    ],
  });

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
    teacher = await session(TEACHER.id);
    lms.emu.addUser(ENGLISH_TEACHER);
    lms.emu.enrol(SAMPLE_COURSE.id, ENGLISH_TEACHER.id, ['Instructor']);
    englishTeacher = await session(ENGLISH_TEACHER.id);
    lineItems = builderData((await page(teacher, '/app/credentials/new')).html).lineItems;
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('the new-credential page offers the course\'s real gradebook columns, to the builder and in the page', async () => {
    const { status, html } = await page(teacher, '/app/credentials/new');
    expect(status).toBe(200);
    expect(lineItems.map((li) => li.label)).toEqual(ACTIVITIES.map((a) => a.label));
    expect(lineItems.map((li) => li.id)).toEqual(lms.emu.lineItems(SAMPLE_COURSE.id).map((li) => li.id));
    for (const { label } of ACTIVITIES) expect(html).toContain(`<span class="line-item-label">${label}</span>`);
    // Every control has a label; the builder's texts come from the page, in the user's language.
    for (const [, id] of html.matchAll(/<(?:input|textarea|select) id="([^"]+)"/g)) expect(html).toContain(`for="${id}"`);
    expect(builderData(html).strings).toMatchObject({ addRule: '条件を追加', types: { allOf: 'すべて満たす' } });
    expect(builderData((await page(englishTeacher, '/app/credentials/new')).html).strings).toMatchObject({ addRule: 'Add rule', types: { allOf: 'All of these' } });
    expect(html).toContain('<script src="/static/criteria-builder.js" defer></script>');
    expect(html).not.toMatch(/<script>|style="/);
  });

  test('a teacher creates a credential with nested criteria through the form, and the API lists it', async () => {
    const before = (await api(teacher, 'GET', '/api/v1/credentials')).body.credentials.length;
    const saved = await post(teacher, '/app/credentials', validForm(nestedCriteria()));
    expect(saved.status).toBe(303);
    expect(saved.location).toBe(`/lti/launch?ltik=${encodeURIComponent(teacher.ltik)}`);
    const listed = (await api(teacher, 'GET', '/api/v1/credentials')).body.credentials as Array<Record<string, any>>;
    expect(listed).toHaveLength(before + 1);
    expect(listed.at(-1)).toMatchObject({
      revision: 1,
      definition: {
        name: 'データ分析基礎 / Data analysis basics', learningOutcomes: ['記述統計を計算できる', 'データを可視化できる'], tags: ['statistics', 'python'],
        workloadHours: 12, ectsCredits: 0.5, eqfLevel: 5, assessmentTypes: ['test'], awardingBody: { name: 'Example University', url: 'https://example.ac.jp' },
        supervision: 'supervised_online', identityVerified: true, validForMonths: 24, autoIssue: true, writeBackToGradebook: false,
        alignments: [{ targetName: 'Statistics', targetUrl: 'https://esco.ec.europa.eu/skill/statistics', targetType: 'ext:ESCOSkill' }],
      },
      criteria: nestedCriteria(),
    });
    // The course page links to the editor.
    const home = await page(teacher, '/lti/launch');
    expect(home.html).toContain(`href="/app/credentials/new?ltik=`);
    expect(home.html).toContain(`href="/app/credentials/${listed.at(-1)!.id}/edit?ltik=`);
  });

  test('editing an awarded credential adds a revision; the edit form shows what is stored', async () => {
    const created = await post(teacher, '/app/credentials', validForm({ type: 'score', select: { tag: 'lab' }, minPercent: 50 }));
    expect(created.status).toBe(303);
    const id = ((await api(teacher, 'GET', '/api/v1/credentials')).body.credentials as Array<{ id: string }>).at(-1)!.id;
    expect((await api(teacher, 'POST', '/api/v1/course/sync')).status).toBe(200);
    // The sync awards the learners with a lab at 50% or more: revision 1 now has awards.
    expect((await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', id).execute()).length).toBeGreaterThan(0);
    const form = await page(englishTeacher, `/app/credentials/${id}/edit`);
    expect(form.status).toBe(200);
    expect(form.html).toContain('value="データ分析基礎 / Data analysis basics"');
    expect(form.html).toContain('Current revision: 1.');
    expect(form.html).toContain(`action="/app/credentials/${id}"`);
    const edited = await post(teacher, `/app/credentials/${id}`, { ...validForm(nestedCriteria()), name: 'Data analysis (2026)' });
    expect(edited.status).toBe(303);
    expect((await api(teacher, 'GET', `/api/v1/credentials/${id}`)).body).toMatchObject({ revision: 2, definition: { name: 'Data analysis (2026)' }, criteria: nestedCriteria() });
    const revisions = await tool.database.db.selectFrom('credential_revision').select('revision').where('credential_id', '=', id).orderBy('revision').execute();
    expect(revisions.map((r) => r.revision)).toEqual([1, 2]);
  });

  test.each([
    ['en', {
      name: 'Fill this in.',
      workloadHours: 'Enter a number.',
      criteriaMissing: 'Criteria at /children/1/select: No gradebook column of this course matches this selector.',
      json: 'The criteria are not valid JSON:',
      summary: 'There are 2 problems with the form',
    }],
    ['ja', {
      name: '入力してください。',
      workloadHours: '数値を入力してください。',
      criteriaMissing: '判定条件の /children/1/select：この条件に一致する評定項目がこのコースにありません。',
      json: '判定条件が正しい JSON ではありません：',
      summary: 'フォームに2件の問題があります',
    }],
  ])('bad input re-renders the form with field errors in %s, keeps the input and stores nothing', async (lang, expected) => {
    const who = lang === 'ja' ? teacher : englishTeacher;
    const before = await storedCount();
    const unknownColumn = { type: 'allOf', children: [{ type: 'score', select: { tag: 'quiz' }, minPercent: 60 }, { type: 'score', select: { lineItemId: 'https://lms.example/no-such-column' }, minPercent: 60 }] };

    const emptyName = await post(who, '/app/credentials', { ...validForm(unknownColumn), name: '  ', workloadHours: 'twelve' });
    expect(emptyName.status).toBe(400);
    expect(fieldError(emptyName.html, 'name')).toBe(expected.name);
    expect(fieldError(emptyName.html, 'workloadHours')).toBe(expected.workloadHours);
    expect(emptyName.html).toMatch(/id="f-name"[^>]*aria-describedby="e-name"[^>]*aria-invalid="true"/);
    expect(emptyName.html).toContain(`<a href="#f-name">${expected.name}</a>`);
    expect(emptyName.html).toContain(expected.summary);
    expect(emptyName.html).toContain('value="twelve"');

    const missingColumn = await post(who, '/app/credentials', validForm(unknownColumn));
    expect(missingColumn.status).toBe(400);
    expect(fieldError(missingColumn.html, 'criteria')).toBe(expected.criteriaMissing);
    expect(builderData(missingColumn.html).errors).toEqual([{ path: '/children/1/select', message: expected.criteriaMissing }]);
    expect(missingColumn.html).toContain('value="データ分析基礎 / Data analysis basics"');

    const malformed = await post(who, '/app/credentials', { ...validForm(null), criteria: '{"type": "allOf", "children": [' });
    expect(malformed.status).toBe(400);
    expect(fieldError(malformed.html, 'criteria')).toContain(expected.json);
    expect(malformed.html).toContain('{&#34;type&#34;: &#34;allOf&#34;, &#34;children&#34;: [');

    expect(await storedCount()).toBe(before);
  });

  test('a form that is not a form of strings is refused as a bad request, not an error', async () => {
    const res = await teacher.browser.fetch(`${tool.url}/app/credentials?ltik=${encodeURIComponent(teacher.ltik)}`, { rawJson: JSON.stringify({ name: { nested: true } }) });
    expect(res.status).toBe(400);
  });

  test('learners get a 403 page', async () => {
    const learner = await session(LEARNERS[3]!.id);
    expect((await page(learner, '/app/credentials/new')).status).toBe(403);
    const id = ((await api(teacher, 'GET', '/api/v1/credentials')).body.credentials as Array<{ id: string }>)[0]!.id;
    expect((await page(learner, `/app/credentials/${id}/edit`)).status).toBe(403);
    const before = await storedCount();
    expect((await post(learner, '/app/credentials', validForm({ type: 'staffApproval' }))).status).toBe(403);
    expect(await storedCount()).toBe(before);
  });

  test('a credential of another course is not found', async () => {
    lms.emu.addCourse({ id: 'DS201', title: '統計学', label: 'DS201' });
    lms.emu.enrol('DS201', TEACHER.id, ['Instructor']);
    lms.emu.addResourceLink('DS201', { id: 'rl-other', title: 'Micro-credentials', toolClientId: lms.clientId });
    lms.emu.addLineItem('DS201', { label: '小テスト', scoreMaximum: 10, tag: 'quiz', toolClientId: lms.clientId });
    const other = await session(TEACHER.id, 'en', 'DS201');
    expect((await post(other, '/app/credentials', validForm({ type: 'score', select: { tag: 'quiz' }, minPercent: 50 }))).status).toBe(303);
    const theirs = ((await api(other, 'GET', '/api/v1/credentials')).body.credentials as Array<{ id: string }>)[0]!.id;
    expect((await page(teacher, `/app/credentials/${theirs}/edit`)).status).toBe(404);
    expect((await post(teacher, `/app/credentials/${theirs}`, validForm({ type: 'staffApproval' }))).status).toBe(404);
    expect((await page(teacher, '/app/credentials/not-a-uuid/edit')).status).toBe(404);
  });

  test('when the LMS is unreachable the page says so and keeps JSON editing; saving stores nothing', async () => {
    lms.emu.faults.set({ kind: 'server-error', pathPrefix: '/mod/lti/services.php' });
    try {
      const form = await page(teacher, '/app/credentials/new');
      expect(form.status).toBe(200);
      expect(form.html).toContain('data-testid="lms-unreachable"');
      expect(form.html).toContain('name="criteria"');
      const before = await storedCount();
      const saved = await post(teacher, '/app/credentials', validForm({ type: 'staffApproval' }));
      expect(saved.status).toBe(503);
      expect(saved.html).toContain('data-testid="lms-unreachable-on-save"');
      expect(saved.html).toContain('value="データ分析基礎 / Data analysis basics"');
      expect(await storedCount()).toBe(before);
    } finally {
      lms.emu.faults.clear();
    }
  });
});
