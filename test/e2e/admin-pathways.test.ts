import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import request from 'supertest';
import type { LmsEmulator } from '../emulator/index.js';
import { ADMIN, LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import { ML_COURSE, ML_LINK, seedSecondCourse, STACKED } from '../fixtures/second-course.js';

const PASSWORD = 'correct horse battery staple';
const text = (html: string, testId: string) => new RegExp(`data-testid="${testId}"[^>]*>([^<]*)<`).exec(html)?.[1]?.trim();
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1];
const tableOf = (html: string, testId: string) => new RegExp(`data-testid="${testId}"[\\s\\S]*?</table>`).exec(html)?.[0] ?? '';


describe.each(DATABASE_KINDS)('the registrar\'s admin screens on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let cookie: string;
  let csrf: string;
  let dsId: string;
  let mlId: string;
  let holder: (typeof LEARNERS)[number];
  let pathwayId: string;

  /** A signed-in local admin's form post; the body as pairs, so repeated fields (checkboxes) stay repeated. */
  const adminPost = (url: string, form: Array<[string, string]>, lang = 'en') =>
    request(tool.url).post(url).set('cookie', cookie).set('origin', tool.url).set('accept-language', lang).type('form').send(new URLSearchParams([['csrf', csrf], ...form]).toString());
  const adminGet = (url: string, lang = 'en') => request(tool.url).get(url).set('cookie', cookie).set('accept-language', lang);

  const session = async (emu: LmsEmulator, userId: string, course = SAMPLE_COURSE.id, link = RESOURCE_LINK.id) => {
    const browser = new LtiBrowser('en');
    const page = await browser.launch(emu, { userId, courseId: course, resourceLinkId: link, clientId: lms.clientId });
    expect(page.status).toBe(200);
    return { browser, ltik: page.ltik! };
  };
  const call = async (who: { browser: LtiBrowser; ltik: string }, method: string, path: string, json?: unknown) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { method, bearer: who.ltik, ...(json === undefined ? {} : { json }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const awarded = async (credentialId: string) => new Set((await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).map((a) => a.user_id));
  const pathwayCount = async () => (await tool.app.pathways.list({ includeArchived: true })).length;

  const pathwayForm = (extra: Array<[string, string]>): Array<[string, string]> => [
    ['name', 'Certificate in Data Analytics'], ['description', 'Data science and machine learning, stacked.'], ['criteriaNarrative', 'Both course credentials.'],
    ['achievementType', 'Certificate'], ['language', 'en'], ['version', '1'], ['minCreditsSystem', 'ects'], ...extra,
  ];

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool({ ...target.env, ADMIN_PASSWORD: PASSWORD });
    lms = await connectLms(tool, { flavor: 'moodle' });
    seedSecondCourse(lms.emu, lms.clientId);

    const teacherDs = await session(lms.emu, TEACHER.id);
    const ds = await call(teacherDs, 'POST', '/api/v1/credentials', STACKED.dataScience);
    expect(ds.status).toBe(201);
    dsId = ds.body.id;
    expect((await call(teacherDs, 'POST', '/api/v1/course/sync')).status).toBe(200);
    const teacherMl = await session(lms.emu, TEACHER.id, ML_COURSE.id, ML_LINK.id);
    const ml = await call(teacherMl, 'POST', '/api/v1/credentials', STACKED.machineLearning);
    expect(ml.status).toBe(201);
    mlId = ml.body.id;
    expect((await call(teacherMl, 'POST', '/api/v1/course/sync')).status).toBe(200);

    // A learner who claims both course credentials before any pathway exists: the pathway made later must reach them.
    const [inDs, inMl] = [await awarded(dsId), await awarded(mlId)];
    holder = LEARNERS.find((l) => l.locale === 'en' && inDs.has(l.id) && inMl.has(l.id))!;
    expect(holder).toBeDefined();
    expect((await call(await session(lms.emu, holder.id), 'POST', `/api/v1/credentials/${dsId}/claim`)).status).toBeLessThan(300);
    expect((await call(await session(lms.emu, holder.id, ML_COURSE.id, ML_LINK.id), 'POST', `/api/v1/credentials/${mlId}/claim`)).status).toBeLessThan(300);
    await tool.app.records.idle();

    const login = await request(tool.url).post('/admin/login').set('origin', tool.url).type('form').send({ password: PASSWORD });
    expect(login.status).toBe(303);
    cookie = (login.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
    csrf = csrfOf((await adminGet('/admin/pathways')).text)!;
    expect(csrf).toBeDefined();
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('the nav leads to the three screens', async () => {
    const page = await adminGet('/admin/platforms');
    for (const path of ['/admin/pathways', '/admin/accepted-issuers', '/admin/records']) expect(page.text).toContain(`href="${path}"`);
    for (const path of ['/admin/pathways', '/admin/accepted-issuers', '/admin/records', '/admin/pathways/new']) expect((await adminGet(path)).status).toBe(200);
  });

  test('a did:key issuer is accepted and listed; a malformed key line is an error naming the line, and saves nothing', async () => {
    const { publicKeyMultibase } = await Ed25519Multikey.generate();
    const did = `did:key:${publicKeyMultibase}`;
    const saved = await adminPost('/admin/accepted-issuers', [['did', did], ['name', 'Universität Beispielstadt'], ['creditSystem', 'ects'], ['keys', '']]);
    expect(saved.status).toBe(303);
    const list = await adminGet(saved.headers.location!);
    expect(text(list.text, 'notice')).toBe('The issuer was saved.');
    expect(tableOf(list.text, 'accepted-issuers')).toContain(`<code>${did}</code>`);
    expect(tableOf(list.text, 'accepted-issuers')).toContain('Universität Beispielstadt');

    const other = await Ed25519Multikey.generate();
    const keys = `did:web:college.example#key-1 ${other.publicKeyMultibase}\ndid:web:college.example#key-2`;
    for (const [lang, says] of [['en', 'Line 2: write the key id, one space, then the public key'], ['ja', '2 行目：鍵 ID、半角スペース 1 つ、公開鍵の順に書き']] as const) {
      const bad = await adminPost('/admin/accepted-issuers', [['did', 'did:web:college.example'], ['name', 'College'], ['creditSystem', 'creditHours'], ['keys', keys]], lang);
      expect(bad.status).toBe(400);
      expect(text(bad.text, 'error-keys')).toContain(says);
      expect(bad.text).toContain('value="did:web:college.example"');
      expect(bad.text).toContain('<option value="creditHours" selected>');
    }
    const wrongId = await adminPost('/admin/accepted-issuers', [['did', 'did:web:college.example'], ['name', 'College'], ['creditSystem', 'ects'], ['keys', `did:web:elsewhere.example#key-1 ${other.publicKeyMultibase}`]]);
    expect(text(wrongId.text, 'error-keys')).toBe('Line 1: the key id must belong to this DID, e.g. did:web:college.example#key-1.');
    const noKey = await adminPost('/admin/accepted-issuers', [['did', 'did:web:college.example'], ['name', ''], ['creditSystem', 'ects']]);
    expect(text(noKey.text, 'error-keys')).toMatch(/^Paste the issuer&#39;s public key/);
    expect(text(noKey.text, 'error-name')).toBe('Enter the issuer&#39;s name (at most 300 characters).');
    expect((await tool.app.pathways.acceptedIssuers()).map((a) => a.did)).toEqual([did]);
  });

  test('invalid pathway input is shown again with every value kept and each error beside its field; nothing is saved', async () => {
    const before = await pathwayCount();
    const empty = await adminPost('/admin/pathways', pathwayForm([['rule', 'allOf']]));
    expect(empty.status).toBe(400);
    expect(text(empty.text, 'error-credentials')).toBe('Tick the credentials it stacks, or set a minimum of credits, or both.');
    expect(empty.text).toContain('value="Certificate in Data Analytics"');

    const atLeast = await adminPost('/admin/pathways', pathwayForm([['rule', 'atLeast'], ['credentials', dsId], ['credentials', mlId], ['version', ''], ['validForMonths', 'soon'], ['external', 'did:web:nowhere.example']]));
    expect(atLeast.status).toBe(400);
    expect(text(atLeast.text, 'error-count')).toBe('Say how many of the listed credentials are needed.');
    expect(text(atLeast.text, 'error-version')).toBe('Enter a version of at most 40 characters, e.g. 1 or 2026.');
    expect(text(atLeast.text, 'error-validForMonths')).toBe('Enter a whole number of months from 1 to 600, or leave it empty.');
    expect(text(atLeast.text, 'error-external')).toMatch(/^Line 1: write the issuer&#39;s DID/);
    expect(atLeast.text).toContain('<option value="atLeast" selected>');
    expect(atLeast.text).toMatch(new RegExp(`name="credentials" value="${dsId}" checked`));
    expect(atLeast.text).toContain('did:web:nowhere.example</textarea>');

    const ja = await adminPost('/admin/pathways', pathwayForm([['rule', 'atLeast'], ['credentials', dsId], ['count', '3']]), 'ja');
    expect(text(ja.text, 'error-count')).toBe('一覧の 1 件を超える件数は指定できません。');
    expect(await pathwayCount()).toBe(before);
  });

  test('a pathway of two course credentials is created through the form, listed, and awarded to the learner who already holds both', async () => {
    const stackable = await adminGet('/admin/pathways/new');
    expect(stackable.text).toContain('Data Science Basics');
    expect(stackable.text).toContain('機械学習 / Machine Learning — Machine Learning Basics');
    const created = await adminPost('/admin/pathways', pathwayForm([['rule', 'allOf'], ['credentials', dsId], ['credentials', mlId], ['minCreditsAmount', '5']]));
    expect(created.status).toBe(303);
    pathwayId = /\/admin\/pathways\/([0-9a-f-]{36})\?saved=1$/.exec(created.headers.location!)![1]!;
    await tool.app.records.idle();

    const list = await adminGet('/admin/pathways');
    const row = new RegExp(`data-pathway="${pathwayId}"[\\s\\S]*?</tr>`).exec(list.text)![0];
    expect(row).toContain('Certificate in Data Analytics');
    expect(row).toContain('All of 2');
    expect(row).toContain('5 ECTS');
    expect(text(row, 'awarded')).toBe('1');
    const held = await tool.database.db.selectFrom('pathway_credential').select('learner_id').where('pathway_id', '=', pathwayId).execute();
    expect(held).toHaveLength(1);
  });

  test('the learner record: found by platform and user id, shown with its pathway; unknown → 404, malformed → 400', async () => {
    const found = await adminGet(`/admin/records?issuer=${encodeURIComponent(lms.emu.url)}&userId=${encodeURIComponent(holder.id)}`);
    expect(found.status).toBe(303);
    const page = await adminGet(found.headers.location!);
    expect(page.status).toBe(200);
    expect(tableOf(page.text, 'record-credentials')).toContain('Certificate in Data Analytics');
    expect(page.text).toContain('data-testid="total-ects">5 ECTS');
    expect(page.text).toContain('data-testid="import-submit"');

    const missing = await adminGet(`/admin/records?issuer=${encodeURIComponent(lms.emu.url)}&userId=nobody`);
    expect(missing.status).toBe(404);
    expect(text(missing.text, 'search-message')).toBe('No learner has this account on this platform.');
    expect((await adminGet('/admin/records/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await adminGet('/admin/records/not-a-learner')).status).toBe(400);
    expect((await adminGet('/admin/records?issuer=a&issuer=b&userId=x')).status).toBe(400);
    expect((await adminGet('/admin/pathways/not-a-pathway')).status).toBe(404);

    const learnerId = found.headers.location!.split('/').pop()!;
    const notJson = await adminPost(`/admin/records/${learnerId}/imports`, [['credential', '{not json']]);
    expect(notJson.status).toBe(422);
    expect(text(notJson.text, 'record-message')).toMatch(/^This is not JSON/);
    expect((await adminPost(`/admin/records/${learnerId}/imports`, [['credential', '']])).status).toBe(400);
  });

  test('the registrar CSV of every learner has a header row and the holder\'s credentials', async () => {
    const csv = await adminGet('/admin/records.csv');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.text.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines[0]).toMatch(/^Learner,Platforms,User ids,Source,Credential,/);
    expect(lines.filter((l) => l.includes(holder.id) && l.includes('Certificate in Data Analytics'))).toHaveLength(1);
  });

  test('an LMS administrator can view the screens, but every change is refused', async () => {
    const browser = new LtiBrowser('en');
    const launch = await browser.launch(lms.emu, { userId: ADMIN.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    expect(launch.status).toBe(200);
    const ltik = launch.ltik!;
    const get = async (path: string) => {
      const res = await browser.fetch(`${tool.url}/app/admin${path}${path.includes('?') ? '&' : '?'}ltik=${ltik}`);
      return { status: res.status, html: await res.text() };
    };
    const list = await get('/pathways');
    expect(list.status).toBe(200);
    expect(list.html).toContain('Certificate in Data Analytics');
    expect(list.html).not.toContain('data-testid="add-pathway"');
    const one = await get(`/pathways/${pathwayId}`);
    expect(one.status).toBe(200);
    expect(one.html).not.toContain('data-testid="save-pathway"');
    expect(one.html).not.toContain('data-testid="revoke"');
    expect((await get('/accepted-issuers')).html).not.toContain('data-testid="save-accepted-issuer"');
    const found = await browser.fetch(`${tool.url}/app/admin/records?issuer=${encodeURIComponent(lms.emu.url)}&userId=${encodeURIComponent(holder.id)}&ltik=${ltik}`);
    expect(found.status).toBe(303);
    const record = await get(found.headers.get('location')!.replace(/^\/app\/admin/, '').replace(/\?ltik=.*$/, ''));
    expect(record.status).toBe(200);
    expect(record.html).toContain('Certificate in Data Analytics');
    expect(record.html).not.toContain('data-testid="import-submit"');
    expect((await get('/records.csv')).status).toBe(403);

    const before = await pathwayCount();
    for (const [path, form] of [
      ['/accepted-issuers', { did: 'did:web:sneaky.example', name: 'Sneaky', creditSystem: 'ects', keys: '' }],
      ['/pathways', { name: 'Sneaky', description: 'x', criteriaNarrative: 'x', language: 'en', version: '1', minCreditsAmount: '1', minCreditsSystem: 'ects' }],
      [`/pathways/${pathwayId}/archive`, {}],
      ['/records/00000000-0000-4000-8000-000000000000/imports', { credential: '{}' }],
    ] as const) {
      const res = await browser.fetch(`${tool.url}/app/admin${path}`, { form: { ltik, ...form } });
      expect(res.status).toBe(403);
      expect(text(await res.text(), 'error-title')).toBe('Changed by the tool&#39;s administrator');
    }
    expect(await pathwayCount()).toBe(before);
    expect((await tool.app.pathways.get(pathwayId)).archivedAt).toBeNull();
  });

  test('a pathway credential is revoked from its page, with a reason; an issuer in use is not removed', async () => {
    const page = await adminGet(`/admin/pathways/${pathwayId}`);
    const awardId = /data-testid="award" data-award="([0-9a-f-]{36})" data-state="valid"/.exec(page.text)![1]!;
    const noReason = await adminPost(`/admin/pathways/${pathwayId}/awards/${awardId}/revoke`, [['reason', ' ']]);
    expect(noReason.status).toBe(400);
    expect(text(noReason.text, 'revoke-error')).toBe('Give the reason for revoking: it is recorded in the audit log.');
    expect((await adminPost(`/admin/pathways/${pathwayId}/awards/00000000-0000-4000-8000-000000000000/revoke`, [['reason', 'x']])).status).toBe(404);

    const revoked = await adminPost(`/admin/pathways/${pathwayId}/awards/${awardId}/revoke`, [['reason', 'Awarded in error']]);
    expect(revoked.status).toBe(303);
    const row = await tool.database.db.selectFrom('pathway_credential').selectAll().where('id', '=', awardId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ revoked_by: 'local-admin', revocation_reason: 'Awarded in error' });
    expect(row.revoked_at).not.toBeNull();
    const after = await adminGet(`/admin/pathways/${pathwayId}`);
    expect(after.text).toContain(`data-award="${awardId}" data-state="revoked"`);
    expect(after.text).toContain('(Awarded in error)');

    // A pathway that accepts the issuer keeps it in use.
    const [accepted] = await tool.app.pathways.acceptedIssuers();
    const edited = await adminPost(`/admin/pathways/${pathwayId}`, pathwayForm([['rule', 'allOf'], ['credentials', dsId], ['credentials', mlId], ['acceptedIssuers', accepted!.did]]));
    expect(edited.status).toBe(303);
    const refused = await adminPost('/admin/accepted-issuers/remove', [['did', accepted!.did]]);
    expect(refused.status).toBe(409);
    expect(text(refused.text, 'remove-error')).toMatch(/was not removed: credentials of this issuer have been imported, or a pathway accepts it/);
    expect(await tool.app.pathways.acceptedIssuers()).toHaveLength(1);
  });
});
