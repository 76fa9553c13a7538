import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { existsSync, readFileSync } from 'node:fs';
import { CREDENTIALS_V2, OPEN_BADGES_V3 } from '../../src/issuance/contexts.js';
import { verifyProof } from '../../src/issuance/signing.js';
import { LmsEmulator } from '../emulator/index.js';
import { SERVICE_SCOPES } from '../emulator/vocabulary.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import { didKeyIssuer, externalCredential } from '../helpers/other-issuers.js';
import { ML_COURSE, ML_LINK, seedSecondCourse, STACKED } from '../fixtures/second-course.js';

const SCHEMA = existsSync('../shared/spec/openbadges-3.0/achievementcredential.schema.json')
  ? '../shared/spec/openbadges-3.0/achievementcredential.schema.json' : 'config/schemas/ob_v3p0_achievementcredential.schema.json';
const ajv = new Ajv2019.default({ allErrors: true, strict: false });
addFormats.default(ajv);
const validateSchema = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);


type Who = { browser: LtiBrowser; ltik: string };

describe.each(DATABASE_KINDS)('pathways, credit records, CLR export and imports on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let dsId: string;
  let mlId: string;
  let both: (typeof LEARNERS)[number];
  let onlyOne: (typeof LEARNERS)[number];
  let pathwayId: string;

  const session = async (emu: LmsEmulator, clientId: string, userId: string, course = SAMPLE_COURSE.id, link = RESOURCE_LINK.id): Promise<Who> => {
    const browser = new LtiBrowser();
    const page = await browser.launch(emu, { userId, courseId: course, resourceLinkId: link, clientId });
    expect(page.status).toBe(200);
    return { browser, ltik: page.ltik! };
  };
  const call = async (who: Who, method: string, path: string, json?: unknown) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { method, bearer: who.ltik, ...(json === undefined ? {} : { json }) });
    const text = await res.text();
    return { status: res.status, text, body: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, any> };
  };
  const page = async (who: Who, path: string, form?: Record<string, string>) => {
    const res = await who.browser.fetch(`${tool.url}${path}${form ? '' : `?ltik=${who.ltik}`}`, form ? { form: { ltik: who.ltik, ...form } } : {});
    return { status: res.status, html: await res.text() };
  };
  const awarded = async (credentialId: string) => new Set((await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).map((a) => a.user_id));

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
    seedSecondCourse(lms.emu, lms.clientId);

    const teacherDs = await session(lms.emu, lms.clientId, TEACHER.id);
    const ds = await call(teacherDs, 'POST', '/api/v1/credentials', STACKED.dataScience);
    expect(ds.status).toBe(201);
    dsId = ds.body.id;
    expect((await call(teacherDs, 'POST', '/api/v1/course/sync')).status).toBe(200);
    const teacherMl = await session(lms.emu, lms.clientId, TEACHER.id, ML_COURSE.id, ML_LINK.id);
    const ml = await call(teacherMl, 'POST', '/api/v1/credentials', STACKED.machineLearning);
    expect(ml.status).toBe(201);
    mlId = ml.body.id;
    expect((await call(teacherMl, 'POST', '/api/v1/course/sync')).status).toBe(200);

    const [inDs, inMl] = [await awarded(dsId), await awarded(mlId)];
    // Learners whose platform locale is English, so the pages answer in English.
    const english = LEARNERS.filter((l) => l.locale === 'en');
    both = english.find((l) => inDs.has(l.id) && inMl.has(l.id))!;
    onlyOne = english.find((l) => l.id !== both.id && inDs.has(l.id) && !inMl.has(l.id))!;
    expect(both).toBeDefined();
    expect(onlyOne).toBeDefined();

    const issuer = await tool.app.issuers.defaultIssuer();
    const saved = await tool.app.pathways.create(issuer.id, {
      name: 'Certificate in Data Analytics', description: 'Data science and machine learning, stacked.', criteriaNarrative: 'Both course credentials, 5 ECTS in all.',
      language: 'en', version: '1', credentials: [{ kind: 'local', credentialId: dsId }, { kind: 'local', credentialId: mlId }], rule: 'allOf', minCredits: { amount: 5, system: 'ects' },
    }, 'registrar');
    if (!saved.ok) throw new Error(JSON.stringify(saved.errors));
    pathwayId = saved.pathway.id;
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  const claimBoth = async (who: { id: string }) => {
    const ds = await session(lms.emu, lms.clientId, who.id);
    expect((await call(ds, 'POST', `/api/v1/credentials/${dsId}/claim`)).status).toBeLessThan(300);
    const ml = await session(lms.emu, lms.clientId, who.id, ML_COURSE.id, ML_LINK.id);
    const claimed = await call(ml, 'POST', `/api/v1/credentials/${mlId}/claim`);
    if (claimed.status < 300) await tool.app.records.idle();
    return { ds, ml, mlClaim: claimed };
  };

  test('credentials earned in two courses stack into the pathway, awarded on the claim that completes it', async () => {
    const { ml } = await claimBoth(both);
    const record = await call(ml, 'GET', '/api/v1/record');
    expect(record.status).toBe(200);
    const standing = record.body.pathways.find((p: { id: string }) => p.id === pathwayId);
    expect(standing).toMatchObject({ satisfied: true });
    expect(standing.awarded).toMatch(/^urn:uuid:/);
    const held = record.body.credentials.map((c: { source: string; name: string }) => `${c.source}:${c.name}`).sort();
    expect(held).toEqual(['course:Data Science Basics', 'course:Machine Learning Basics', 'pathway:Certificate in Data Analytics']);

    const row = await tool.database.db.selectFrom('pathway_credential').selectAll().where('pathway_id', '=', pathwayId).executeTakeFirstOrThrow();
    const document = row.document;
    expect(validateSchema(document)).toBe(true);
    const verified = await fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) });
    expect(((await verified.json()) as { verdict: string }).verdict).toBe('valid');
    // Its evidence is the two course credentials it stands on.
    const constituents = (document.evidence as Array<{ id: string }>).map((e) => e.id).sort();
    expect(constituents).toEqual(record.body.credentials.filter((c: { source: string }) => c.source === 'course').map((c: { id: string }) => c.id).sort());
    // The achievement it names is published.
    const achievement = await fetch(String((document.credentialSubject as { achievement: { id: string } }).achievement.id));
    expect(achievement.status).toBe(200);
  });

  test('credit totals: per system as earned, and converted through learning hours', async () => {
    const ml = await session(lms.emu, lms.clientId, both.id, ML_COURSE.id, ML_LINK.id);
    const { body } = await call(ml, 'GET', '/api/v1/record');
    // 2 ECTS + 2 credit hours; 2 credit hours × 45 h / 30 h = 3 ECTS, and 2 ECTS × 30 / 45 = 1.33 credit hours.
    expect(body.creditsBySystem).toEqual({ ects: 2, creditHours: 2 });
    expect(body.totals).toEqual({ ects: 5, creditHours: 3.33 });
    const html = (await page(ml, '/app/record')).html;
    expect(html).toContain('data-testid="total-ects">5 ECTS');
    const download = html.match(/href="(\/app\/record\/credentials\/pathway\/[^"]+)"/)![1]!.replace(/&amp;/g, '&');
    const file = await ml.browser.fetch(`${tool.url}${download}`);
    expect(file.headers.get('content-type')).toContain('application/vc+ld+json');
    expect(((await file.json()) as { name: string }).name).toBe('Certificate in Data Analytics');
    const other = await session(lms.emu, lms.clientId, onlyOne.id);
    expect((await other.browser.fetch(`${tool.url}${download.replace(/ltik=[^&]+/, `ltik=${other.ltik}`)}`)).status).toBe(404);
    const csv = await ml.browser.fetch(`${tool.url}/app/record.csv?ltik=${ml.ltik}`);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines).toHaveLength(4);
    expect(lines.find((l) => l.includes('Machine Learning Basics'))).toMatch(/,2,creditHours,3,/);
  });

  test('a learner short of the pathway sees what is missing, and is not awarded', async () => {
    const ds = await session(lms.emu, lms.clientId, onlyOne.id);
    expect((await call(ds, 'POST', `/api/v1/credentials/${dsId}/claim`)).status).toBeLessThan(300);
    await tool.app.records.idle();
    const { body } = await call(ds, 'GET', '/api/v1/record');
    const standing = body.pathways.find((p: { id: string }) => p.id === pathwayId);
    expect(standing).toMatchObject({ satisfied: false, awarded: null });
    expect(standing.progress).toMatchObject({ met: 1, needed: 2, credits: { earned: 2, required: 5, system: 'ects' } });
    const html = (await page(ds, '/app/record')).html;
    expect(html).toContain('Still needed: 1 more of Machine Learning Basics');
    expect(html).toContain('Still needed: 3 ECTS more.');
  });

  test('the CLR 2.0 export is signed, verifies with @digitalbazaar/vc offline, holds every credential and how they stack', async () => {
    const ds = await session(lms.emu, lms.clientId, both.id);
    const res = await call(ds, 'GET', '/api/v1/record/clr');
    expect(res.status).toBe(200);
    const clr = JSON.parse(res.text) as Record<string, any>;
    expect(clr.type).toEqual(['VerifiableCredential', 'ClrCredential']);
    expect(clr['@context'].slice(0, 3)).toEqual([CREDENTIALS_V2, 'https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json', OPEN_BADGES_V3]);
    expect(clr.credentialSubject.verifiableCredential).toHaveLength(3);
    expect(clr.credentialSubject.association).toHaveLength(2);
    expect(new Set(clr.credentialSubject.association.map((a: { associationType: string }) => a.associationType))).toEqual(new Set(['isPartOf']));
    const loader = tool.app.issuance.documentLoader;
    expect(await verifyProof(clr, loader)).toEqual({ verified: true });
    // Each credential inside still verifies on its own.
    for (const inner of clr.credentialSubject.verifiableCredential) expect(await verifyProof(inner, loader)).toEqual({ verified: true });
    const tampered = structuredClone(clr);
    tampered.credentialSubject.verifiableCredential[0].credentialSubject.achievement.name = 'Something else';
    expect((await verifyProof(tampered, loader)).verified).toBe(false);
  });

  test('a CLR export with nothing valid to hold is refused with a clear answer', async () => {
    const nobody = LEARNERS.find((l) => l.id !== both.id && l.id !== onlyOne.id)!;
    const who = await session(lms.emu, lms.clientId, nobody.id);
    const res = await call(who, 'GET', '/api/v1/record/clr');
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'record_empty' });
  });

  test('an external credential from an accepted issuer is verified offline and counts; a tampered one is rejected and nothing is kept', async () => {
    const other = await didKeyIssuer();
    const ds = await session(lms.emu, lms.clientId, onlyOne.id);
    const credential = await externalCredential(other, onlyOne.email, 'urn:uuid:0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9');

    // Not on the accepted list yet: refused, and said why.
    let res = await page(ds, '/app/record/imports', { credential: JSON.stringify(credential) });
    expect(res.status).toBe(422);
    expect(res.html).toContain('does not accept credentials of');

    expect(await tool.app.pathways.acceptIssuer({ did: other.did, name: 'Universität Beispielstadt', creditSystem: 'ects' }, 'registrar')).toEqual({ ok: true });
    const issuer = await tool.app.issuers.defaultIssuer();
    const credits = await tool.app.pathways.create(issuer.id, {
      name: 'Transfer credit', description: 'Any 3.5 ECTS.', criteriaNarrative: '3.5 ECTS from us or accepted universities.', language: 'en', version: '1',
      minCredits: { amount: 3.5, system: 'ects' }, acceptedIssuers: [other.did],
    }, 'registrar');
    expect(credits.ok).toBe(true);

    const tampered = structuredClone(credential) as Record<string, any>;
    tampered.credentialSubject.creditsEarned = 15;
    res = await page(ds, '/app/record/imports', { credential: JSON.stringify(tampered) });
    expect(res.status).toBe(422);
    expect(res.html).toContain('signature does not verify');
    expect(await tool.database.db.selectFrom('imported_credential').select('id').execute()).toHaveLength(0);

    // Someone else's credential does not go into this learner's record.
    const foreign = await externalCredential(other, 'someone.else@example.org', 'urn:uuid:1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9');
    res = await page(ds, '/app/record/imports', { credential: JSON.stringify(foreign) });
    expect(res.status).toBe(422);
    expect(res.html).toContain('does not name you');

    res = await page(ds, '/app/record/imports', { credential: JSON.stringify(credential) });
    expect(res.status).toBe(200);
    expect(res.html).toContain('Added “Statistik I” from Universität Beispielstadt');
    const { body } = await call(ds, 'GET', '/api/v1/record');
    expect(body.totals.ects).toBe(3.5);
    const transfer = body.pathways.find((p: { id: string }) => p.id === (credits.ok ? credits.pathway.id : ''));
    expect(transfer).toMatchObject({ satisfied: true });
    expect(transfer.awarded).toMatch(/^urn:uuid:/);

    // The same credential again, by anyone, is refused: it counts for one person.
    res = await page(ds, '/app/record/imports', { credential: JSON.stringify(credential) });
    expect(res.status).toBe(422);
    expect(res.html).toContain('in a record already');
  });

  test('across platforms, a learner joins records by presenting a credential that names them; a copy of another\'s does not', async () => {
    const canvas = new LmsEmulator({ flavor: 'canvas' });
    await canvas.start();
    try {
      const registered = canvas.registerTool({
        name: 'Micro-credentials', initiateLoginUri: `${tool.url}/lti/login`, redirectUris: [`${tool.url}/lti/launch`],
        targetLinkUri: `${tool.url}/lti/launch`, jwksUri: `${tool.url}/lti/keys`, scopes: [...SERVICE_SCOPES],
      });
      await tool.app.platforms.register({
        issuer: canvas.url, clientId: registered.clientId, name: 'canvas', authLoginUrl: canvas.endpoints.authorization, tokenUrl: canvas.endpoints.token,
        keysetUrl: canvas.endpoints.jwks, deploymentIds: [registered.deploymentId], source: 'cli', active: true,
      }, 'test');
      canvas.addCourse({ id: 'EXT-1', title: 'Summer school', label: 'EXT' });
      const sameEmail = { ...both, id: 'canvas-user-77' };
      const stranger = { ...onlyOne, id: 'canvas-user-88', email: 'stranger@example.org' };
      for (const u of [sameEmail, stranger]) {
        canvas.addUser(u);
        canvas.enrol('EXT-1', u.id, ['Learner']);
      }
      canvas.addResourceLink('EXT-1', { id: 'rl-ext', title: 'Credentials', toolClientId: registered.clientId });
      const ds = await session(lms.emu, lms.clientId, both.id);
      const held = (await call(ds, 'GET', '/api/v1/record')).body.credentials.find((c: { source: string }) => c.source === 'course');
      const own = await tool.database.db.selectFrom('issued_credential').select('document').where('id', '=', held.rowId).executeTakeFirstOrThrow();

      const strangerSession = await session(canvas, registered.clientId, stranger.id, 'EXT-1', 'rl-ext');
      let res = await page(strangerSession, '/app/record/imports', { credential: JSON.stringify(own.document) });
      expect(res.status).toBe(422);
      expect(res.html).toContain('does not name you');

      // The learner brings the badge image they downloaded on the other platform.
      const badge = await ds.browser.fetch(`${tool.url}/api/v1/issued/${held.rowId}/badge.png`, { bearer: ds.ltik });
      expect(badge.status).toBe(200);
      const onCanvas = await session(canvas, registered.clientId, sameEmail.id, 'EXT-1', 'rl-ext');
      const notBaked = await fetch(`${tool.url}/api/v1/record/imports`, { method: 'POST', headers: { authorization: `Bearer ${onCanvas.ltik}`, 'content-type': 'image/png' }, body: Buffer.from('not a png') });
      expect({ status: notBaked.status, error: ((await notBaked.json()) as { error: string }).error }).toEqual({ status: 422, error: 'not_baked' });
      const linked = await fetch(`${tool.url}/api/v1/record/imports`, { method: 'POST', headers: { authorization: `Bearer ${onCanvas.ltik}`, 'content-type': 'image/png' }, body: Buffer.from(await badge.arrayBuffer()) });
      expect(linked.status).toBe(201);
      expect(await linked.json()).toMatchObject({ ok: true, kind: 'linked', platform: lms.emu.url, message: expect.stringContaining('is now part of this record') });
      const { body } = await call(onCanvas, 'GET', '/api/v1/record');
      expect(body.accounts).toHaveLength(2);
      expect(body.credentials.map((c: { name: string }) => c.name)).toContain('Certificate in Data Analytics');
      expect(body.totals.ects).toBe(5);
    } finally {
      await canvas.stop();
    }
  });

  test('bad input to the import gets a clear answer, never a stack trace', async () => {
    const ds = await session(lms.emu, lms.clientId, onlyOne.id);
    for (const [credential, says] of [['', 'Nothing was pasted'], ['{not json', 'This is not JSON'], ['[1,2]', 'is not a credential']] as const) {
      const res = await page(ds, '/app/record/imports', { credential });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.html).toContain(says);
    }
  });
});
