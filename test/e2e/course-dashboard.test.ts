import type { DefinitionInput } from '../../src/credentials/definition-schema.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const definition: DefinitionInput = {
  name: 'データ分析の基礎 / Data analysis basics', description: '小テストでデータ分析の基礎を確認しました。', criteriaNarrative: 'Every quiz at 40% or more.',
  language: 'ja', version: '2026', learningOutcomes: ['記述統計を計算できる'], workloadHours: 10, ectsCredits: 1, eqfLevel: 5,
  assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Faculty curriculum committee', awardingBody: { name: 'Example University', url: 'https://www.example.ac.jp' },
  awardingCountry: 'JP',
};
const criteria = { type: 'score', select: { tag: 'quiz' }, minPercent: 40 };

/** Learners who joined late, without results: enough of them that the table has two pages. */
const LATECOMERS = Array.from({ length: 40 }, (_, i) => ({ id: `late-${String(i + 1).padStart(2, '0')}`, name: `Latecomer ${String(i + 1).padStart(2, '0')}`, givenName: 'Late', familyName: `Comer ${i + 1}` }));
/** Names a spreadsheet would misread: a formula, and a quote with a comma. */
const TRICKY = [
  { id: 'tricky-formula', name: '=HYPERLINK("http://evil.example","x")', givenName: '=HYPERLINK', familyName: 'x', email: 'formula@students.example.ac.jp' },
  { id: 'tricky-quote', name: 'Max "the Quote" Müller, Jr.', givenName: 'Max', familyName: 'Müller', email: 'max@students.example.ac.jp' },
];
const ROSTER_SIZE = LEARNERS.length + LATECOMERS.length + TRICKY.length;

type Who = { browser: LtiBrowser; ltik: string; userId: string };

describe.each(DATABASE_KINDS)('the instructor course dashboard on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let teacher: Who;
  let credentialId: string;

  const session = async (userId: string, lang = 'en', courseId = SAMPLE_COURSE.id, resourceLinkId = RESOURCE_LINK.id): Promise<Who & { html: string }> => {
    const browser = new LtiBrowser(lang);
    const page = await browser.launch(lms.emu, { userId, courseId, resourceLinkId, clientId: lms.clientId, locale: lang });
    expect(page.status).toBe(200);
    return { browser, ltik: page.ltik!, userId, html: page.html };
  };
  const call = async (who: Who, method: string, path: string, json?: unknown) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { method, bearer: who.ltik, ...(json === undefined ? {} : { json }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const page = async (who: Who, path: string, params: Record<string, string> = {}) => {
    const res = await who.browser.fetch(`${tool.url}${path}?${new URLSearchParams({ ltik: who.ltik, ...params })}`);
    return { status: res.status, html: await res.text() };
  };
  const post = async (who: Who, path: string, userIds: string[], reason: string) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { form: [['ltik', who.ltik], ...userIds.map((id): [string, string] => ['userIds[]', id]), ['reason', reason]] });
    return { status: res.status, html: await res.text() };
  };
  const rows = (html: string) => [...html.matchAll(/<tr data-testid="learner-row" data-user-id="([^"]*)" data-status="([^"]*)">([\s\S]*?)<\/tr>/g)]
    .map((m) => ({ userId: m[1]!, status: m[2]!, progress: Number(/data-testid="learner-progress">(\d+)/.exec(m[3]!)?.[1]) }));
  const outcomes = (html: string) => Object.fromEntries([...html.matchAll(/data-testid="action-result" data-user-id="([^"]*)" data-outcome="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  const counts = (html: string, id: string) => {
    const row = new RegExp(`data-credential-id="${id}">([\\s\\S]*?)</tr>`).exec(html)![1]!;
    const count = (name: string) => Number(new RegExp(`data-testid="count-${name}">([\\d,]+)<`).exec(row)![1]!.replace(/,/g, ''));
    return { qualified: count('qualified'), awarded: count('awarded'), claimed: count('claimed'), revoked: count('revoked') };
  };
  const db = () => tool.database.db;
  const unawarded = async () => {
    const awarded = new Set((await db().selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).map((a) => a.user_id));
    return [...LEARNERS, ...LATECOMERS].map((l) => l.id).filter((id) => !awarded.has(id));
  };

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
    for (const user of [...LATECOMERS, ...TRICKY]) {
      lms.emu.addUser(user);
      lms.emu.enrol(SAMPLE_COURSE.id, user.id, ['Learner']);
    }
    teacher = await session(TEACHER.id);
    const created = await call(teacher, 'POST', '/api/v1/credentials', { definition, criteria });
    expect(created.status).toBe(201);
    credentialId = created.body.id;
    // "Read grades now" on the dashboard: a form post with the ltik in the body.
    const synced = await teacher.browser.fetch(`${tool.url}/app/course/sync`, { form: { ltik: teacher.ltik } });
    expect(synced.status).toBe(200);
    expect(await synced.text()).toContain('data-testid="sync-done"');
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('the staff launch page is the dashboard: each credential with its counts, the read-grades button and a link to its learners', async () => {
    const { html } = await session(TEACHER.id);
    const awarded = (await db().selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).length;
    expect(awarded).toBeGreaterThan(0);
    expect(awarded).toBeLessThan(LEARNERS.length);
    expect(counts(html, credentialId)).toEqual({ qualified: awarded, awarded, claimed: 0, revoked: 0 });
    expect(html).toContain('data-testid="staff-credentials"');
    expect(html).toContain('action="/app/course/sync"');
    expect(html).toContain(`href="/app/credentials/${credentialId}?ltik=`);
    expect(html).not.toMatch(/style=/);
    // A claim shows up as claimed.
    const holder = (await db().selectFrom('award').select('user_id').where('credential_id', '=', credentialId).executeTakeFirstOrThrow()).user_id;
    expect((await call(await session(holder), 'POST', `/api/v1/credentials/${credentialId}/claim`)).status).toBe(201);
    expect(counts((await session(TEACHER.id)).html, credentialId)).toMatchObject({ awarded, claimed: 1 });
    const table = await page(teacher, `/app/credentials/${credentialId}`, { status: 'claimed' });
    expect(rows(table.html).map((r) => r.userId)).toEqual([holder]);
  });

  test('the learners table pages, sorts and filters in the query, with aria-sort on its headers', async () => {
    const first = await page(teacher, `/app/credentials/${credentialId}`);
    expect(first.status).toBe(200);
    expect(rows(first.html)).toHaveLength(50);
    expect(first.html).toContain('data-testid="page-of">Page 1 of 2<');
    expect(first.html).toContain('aria-sort="ascending" data-testid="sort-name"');
    expect(first.html).toContain('aria-sort="none" data-testid="sort-progress"');
    const second = await page(teacher, `/app/credentials/${credentialId}`, { page: '2' });
    expect(rows(second.html)).toHaveLength(ROSTER_SIZE - 50);
    const everyone = [...rows(first.html), ...rows(second.html)].map((r) => r.userId);
    expect(new Set(everyone).size).toBe(ROSTER_SIZE);
    // Descending by name is ascending reversed.
    const descending = [...rows((await page(teacher, `/app/credentials/${credentialId}`, { dir: 'desc' })).html), ...rows((await page(teacher, `/app/credentials/${credentialId}`, { dir: 'desc', page: '2' })).html)];
    expect(descending.map((r) => r.userId)).toEqual([...everyone].reverse());

    const byProgress = await page(teacher, `/app/credentials/${credentialId}`, { sort: 'progress', dir: 'desc' });
    expect(byProgress.html).toContain('aria-sort="descending" data-testid="sort-progress"');
    const progress = rows(byProgress.html).map((r) => r.progress);
    expect(progress).toEqual([...progress].sort((a, b) => b - a));
    expect(progress[0]).toBe(100);

    const latecomers = await page(teacher, `/app/credentials/${credentialId}`, { q: 'latecomer', status: 'in_progress' });
    expect(rows(latecomers.html).map((r) => r.userId)).toEqual(LATECOMERS.map((l) => l.id));
    expect(rows(latecomers.html).every((r) => r.status === 'in_progress' && r.progress === 0)).toBe(true);
    // A search is text, not a pattern.
    expect(rows((await page(teacher, `/app/credentials/${credentialId}`, { q: '%' })).html)).toEqual([]);
    const awarded = await page(teacher, `/app/credentials/${credentialId}`, { status: 'awarded' });
    expect(rows(awarded.html).every((r) => r.status === 'awarded')).toBe(true);

    for (const [param, value] of [['sort', 'email'], ['dir', 'up'], ['status', 'done'], ['page', '0'], ['q', 'x'.repeat(101)]] as const) {
      const bad = await page(teacher, `/app/credentials/${credentialId}`, { [param]: value });
      expect({ param, status: bad.status }).toEqual({ param, status: 400 });
      expect(bad.html).toContain(`data-field="${param}"`);
    }
    const japanese = await session(TEACHER.id, 'ja');
    const badJa = await page(japanese, `/app/credentials/${credentialId}`, { sort: 'email' });
    expect(badJa.html).toContain('表を表示できません');
  });

  test("a learner's details show the progress of each criterion", async () => {
    const learner = LEARNERS[0]!;
    const details = await page(teacher, `/app/credentials/${credentialId}/learners/${learner.id}`);
    expect(details.status).toBe(200);
    expect(details.html).toContain(learner.name);
    expect(details.html).toContain('data-testid="criteria-tree"');
    expect([...details.html.matchAll(/data-testid="criterion"/g)].length).toBeGreaterThan(1);
    expect(details.html).toContain('<progress max="100"');
    expect((await page(teacher, `/app/credentials/${credentialId}/learners/nobody`)).status).toBe(404);
  });

  test('bulk award of three learners with a reason, then bulk revoke, reports each learner', async () => {
    const [a, b, c, neverAwarded] = await unawarded();
    const holder = (await db().selectFrom('award').select('user_id').where('credential_id', '=', credentialId).where('decision_id', 'is not', null).executeTakeFirstOrThrow()).user_id;
    const before = counts((await session(TEACHER.id)).html, credentialId);

    const japanese = await session(TEACHER.id, 'ja');
    const awarded = await post(japanese, `/app/credentials/${credentialId}/awards`, [a!, b!, c!, holder, 'nobody'], '追試験に合格');
    expect(awarded.status).toBe(200);
    expect(outcomes(awarded.html)).toEqual({ [a!]: 'awarded', [b!]: 'awarded', [c!]: 'awarded', [holder]: 'already_awarded', nobody: 'unknown_learner' });
    expect(awarded.html).toContain('授与しました');
    const manual = await db().selectFrom('award').select(['user_id', 'awarded_by', 'note']).where('credential_id', '=', credentialId).where('awarded_by', 'is not', null).execute();
    expect(manual.map((m) => m.user_id).sort()).toEqual([a, b, c].sort());
    expect(manual.every((m) => m.awarded_by === TEACHER.id && m.note === '追試験に合格')).toBe(true);
    expect(counts((await session(TEACHER.id)).html, credentialId)).toMatchObject({ awarded: before.awarded + 3 });

    const revoked = await post(teacher, `/app/credentials/${credentialId}/revocations`, [a!, b!, c!, neverAwarded!], 'Awarded by mistake');
    expect(revoked.status).toBe(200);
    expect(outcomes(revoked.html)).toEqual({ [a!]: 'revoked', [b!]: 'revoked', [c!]: 'revoked', [neverAwarded!]: 'not_awarded' });
    expect(revoked.html).toContain('Not awarded, so nothing to revoke');
    const again = await post(teacher, `/app/credentials/${credentialId}/revocations`, [a!], 'Again');
    expect(outcomes(again.html)).toEqual({ [a!]: 'already_revoked' });
    expect(counts((await session(TEACHER.id)).html, credentialId)).toMatchObject({ awarded: before.awarded, revoked: before.revoked + 3 });
    const table = await page(teacher, `/app/credentials/${credentialId}`, { status: 'revoked' });
    expect(rows(table.html).map((r) => r.userId).sort()).toEqual([a, b, c].sort());
  });

  test('bulk through the JSON API answers each learner; the single forms keep their answers', async () => {
    const [a, b] = (await unawarded()).slice(-2);
    const awarded = await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userIds: [a, b, 'nobody'], note: 'Recognised prior learning' });
    expect(awarded).toEqual({ status: 200, body: { credentialId, results: [
      { userId: a, outcome: 'awarded', revision: 1 }, { userId: b, outcome: 'awarded', revision: 1 }, { userId: 'nobody', outcome: 'unknown_learner' },
    ] } });
    const revoked = await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/revocations`, { userIds: [a, 'nobody'], reason: 'Entered in error' });
    expect(revoked).toEqual({ status: 200, body: { credentialId, results: [{ userId: a, outcome: 'revoked', revokedCredential: null }, { userId: 'nobody', outcome: 'unknown_learner' }] } });
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userIds: [], note: 'x' })).status).toBe(400);
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/revocations`, { userIds: [b] })).body.errors).toEqual([{ path: '/reason', message: expect.any(String) }]);
    const tooMany = await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userIds: Array.from({ length: 501 }, (_, i) => `u${i}`), note: 'x' });
    expect(tooMany.status).toBe(400);
    expect(await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/revocations`, { userId: b, reason: 'Single form' }))
      .toEqual({ status: 200, body: { credentialId, userId: b, revokedCredential: null } });
  });

  test('a missing reason is a field error in Japanese and English, and nothing is written', async () => {
    const [learner] = await unawarded();
    const audit = async () => (await db().selectFrom('audit_event').select('id').execute()).length;
    const awards = async () => (await db().selectFrom('award').select('user_id').execute()).length;
    const [auditBefore, awardsBefore] = [await audit(), await awards()];
    const japanese = await session(TEACHER.id, 'ja');
    const ja = await post(japanese, `/app/credentials/${credentialId}/awards`, [learner!], '   ');
    expect(ja.status).toBe(400);
    expect(ja.html).toMatch(/data-testid="error-reason">理由を 1,000 文字以内で入力してください。</);
    expect(ja.html).toContain('aria-invalid="true"');
    expect(ja.html).toContain(`name="userIds[]" value="${learner}"`);
    const en = await post(teacher, `/app/credentials/${credentialId}/revocations`, [learner!], '');
    expect(en.status).toBe(400);
    expect(en.html).toMatch(/data-testid="error-reason">Give a reason/);
    const none = await post(teacher, `/app/credentials/${credentialId}/awards`, [], 'A reason');
    expect(none.html).toContain('data-testid="error-userIds"');
    expect([await audit(), await awards()]).toEqual([auditBefore, awardsBefore]);
  });

  test('the CSV export has a BOM, RFC 4180 quoting and no formulas, on the page and the API', async () => {
    const res = await teacher.browser.fetch(`${tool.url}/app/credentials/${credentialId}/learners.csv?ltik=${encodeURIComponent(teacher.ltik)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toContain(`learners-${credentialId}.csv`);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    const lines = text.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(ROSTER_SIZE + 2);
    expect(lines[0]).toBe('User id,Name,Email,Status,Progress (%),Qualified,Awarded at,Claimed at,Revoked at,Reason');
    expect(text).toContain(`tricky-formula,"'=HYPERLINK(""http://evil.example"",""x"")",formula@students.example.ac.jp,In progress,0,no,`);
    expect(text).toContain('tricky-quote,"Max ""the Quote"" Müller, Jr.",max@students.example.ac.jp,');
    const holder = LEARNERS.find((l) => lines.some((line) => line.startsWith(`${l.id},`) && line.includes(',Claimed,')))!;
    expect(holder).toBeDefined();
    expect(lines.find((l) => l.startsWith(`${holder.id},`))).toMatch(new RegExp(`^${holder.id},${holder.name},${holder.email},Claimed,100,yes,\\d{4}-\\d\\d-\\d\\dT[^,]+,\\d{4}-[^,]+,,`));

    const api = await teacher.browser.fetch(`${tool.url}/api/v1/credentials/${credentialId}/learners.csv?status=revoked`, { bearer: teacher.ltik });
    expect(api.status).toBe(200);
    const revoked = (await api.text()).split('\r\n').filter(Boolean);
    expect(revoked.slice(1).every((l) => l.includes(',Revoked,'))).toBe(true);
    const japanese = await session(TEACHER.id, 'ja');
    // text() decodes UTF-8 and drops the BOM, which the bytes above showed.
    const ja = await (await japanese.browser.fetch(`${tool.url}/app/credentials/${credentialId}/learners.csv?ltik=${encodeURIComponent(japanese.ltik)}`)).text();
    expect(ja.startsWith('ユーザー ID,氏名,')).toBe(true);
  });

  test('the issuance log shows runs, claims, staff awards and revocations with their reasons, newest first', async () => {
    const log = await page(teacher, `/app/credentials/${credentialId}/log`);
    expect(log.status).toBe(200);
    const entries = [...log.html.matchAll(/<tr data-testid="log-entry" data-action="([^"]*)" data-user-id="([^"]*)">([\s\S]*?)<\/tr>/g)].map((m) => ({ action: m[1]!, userId: m[2]!, cells: m[3]! }));
    const actions = new Set(entries.map((e) => e.action));
    expect(actions).toEqual(new Set(['award.automatic', 'award.manual', 'credential.issued', 'credential.revoked']));
    expect(entries[0]).toMatchObject({ action: 'credential.revoked', cells: expect.stringContaining('Single form') });
    expect(entries.filter((e) => e.action === 'award.manual' && e.cells.includes('追試験に合格'))).toHaveLength(3);
    expect(entries.filter((e) => e.action === 'credential.revoked' && e.cells.includes('Awarded by mistake'))).toHaveLength(3);
    expect(entries.find((e) => e.action === 'award.manual')!.cells).toContain(TEACHER.id);
    expect(log.html).toMatch(/<time datetime="\d{4}-[^"]+">\d+ \w{3} \d{4}, \d\d:\d\d UTC<\/time>/);
    expect((await page(teacher, `/app/credentials/${credentialId}/log`, { page: 'x' })).status).toBe(400);
  });

  test('a learner gets 403 on every dashboard page and action', async () => {
    const learner = await session(LEARNERS[1]!.id);
    for (const path of ['', '/log', '/learners.csv', `/learners/${LEARNERS[1]!.id}`]) {
      const res = await page(learner, `/app/credentials/${credentialId}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
    expect((await post(learner, `/app/credentials/${credentialId}/awards`, [learner.userId], 'Self-award')).status).toBe(403);
    expect((await learner.browser.fetch(`${tool.url}/app/course/sync`, { form: { ltik: learner.ltik } })).status).toBe(403);
    expect((await learner.browser.fetch(`${tool.url}/api/v1/credentials/${credentialId}/learners.csv`, { bearer: learner.ltik })).status).toBe(403);
    expect(await db().selectFrom('award').select('user_id').where('user_id', '=', learner.userId).where('note', '=', 'Self-award').execute()).toEqual([]);
  });

  test("another course's credential is not found, nor is an id that is no credential", async () => {
    const other = { id: 'STAT202-2026', title: '統計学 / Statistics', label: 'STAT202' };
    lms.emu.addCourse(other);
    lms.emu.enrol(other.id, TEACHER.id, ['Instructor']);
    lms.emu.addResourceLink(other.id, { id: 'rl-stat', title: 'Micro-credentials', toolClientId: lms.clientId });
    lms.emu.addLineItem(other.id, { label: 'Quiz', scoreMaximum: 10, tag: 'quiz', toolClientId: lms.clientId });
    const elsewhere = await session(TEACHER.id, 'en', other.id, 'rl-stat');
    const created = await call(elsewhere, 'POST', '/api/v1/credentials', { definition, criteria });
    expect(created.status).toBe(201);
    for (const path of ['', '/log', '/learners.csv']) {
      expect((await page(teacher, `/app/credentials/${created.body.id}${path}`)).status).toBe(404);
    }
    expect((await post(teacher, `/app/credentials/${created.body.id}/awards`, [LEARNERS[0]!.id], 'Wrong course')).status).toBe(404);
    expect((await page(teacher, '/app/credentials/not-a-uuid')).status).toBe(404);
    expect((await page(elsewhere, `/app/credentials/${created.body.id}`)).status).toBe(200);
  });
});
