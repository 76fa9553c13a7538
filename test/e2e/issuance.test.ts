import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli.js';
import type { DefinitionInput } from '../../src/credentials/definition-schema.js';
import { extractBakedCredential } from '../../src/issuance/baking.js';
import { verifyProof } from '../../src/issuance/signing.js';
import { StatusBits } from '../../src/issuance/status-list.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';

const VENDORED_SCHEMA = 'config/schemas/ob_v3p0_achievementcredential.schema.json';
const SHARED_SCHEMA = '../shared/spec/openbadges-3.0/achievementcredential.schema.json';
const ajv = new Ajv2019.default({ allErrors: true, strict: false });
addFormats.default(ajv);
const validateSchema = ajv.compile(JSON.parse(readFileSync(existsSync(SHARED_SCHEMA) ? SHARED_SCHEMA : VENDORED_SCHEMA, 'utf8')) as object);

const definition: DefinitionInput = {
  name: 'データサイエンス入門 / Intro to Data Science', description: '小テストと期末試験でデータ分析の基礎を確認しました。', criteriaNarrative: 'Every quiz at 40% or more.',
  language: 'ja', version: '2026', learningOutcomes: ['記述統計を計算できる'], workloadHours: 25, ectsCredits: 1, eqfLevel: 5,
  assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Faculty curriculum committee', awardingBody: { name: 'Example University', url: 'https://www.example.ac.jp' },
  awardingCountry: 'JP', validForMonths: 36,
};

type Who = { browser: LtiBrowser; ltik: string; userId: string };

describe.each(DATABASE_KINDS)('issuing, verifying and revoking Open Badges 3.0 credentials on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let teacher: Who;
  let credentialId: string;
  let qualified: string[];
  let unqualified: string;

  const session = async (userId: string, lang = 'en'): Promise<Who> => {
    const browser = new LtiBrowser(lang);
    const page = await browser.launch(lms.emu, { userId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    expect(page.status).toBe(200);
    return { browser, ltik: page.ltik!, userId };
  };
  const call = async (who: Who, method: string, path: string, json?: unknown) => {
    const res = await who.browser.fetch(`${tool.url}${path}`, { method, bearer: who.ltik, ...(json === undefined ? {} : { json }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const verify = async (body: string | Buffer, contentType = 'application/json') => {
    const res = await fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': contentType, 'accept-language': 'ja' }, body });
    return { status: res.status, body: (await res.json()) as { verdict: string; message: string; checks: Array<{ check: string; outcome: string; message: string; messages: { en: string; ja: string } }> } };
  };
  const outcomes = (checks: Array<{ check: string; outcome: string }>) => Object.fromEntries(checks.map((c) => [c.check, c.outcome]));
  const claim = async (who: Who) => call(who, 'POST', `/api/v1/credentials/${credentialId}/claim`);

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
    teacher = await session(TEACHER.id);
    const created = await call(teacher, 'POST', '/api/v1/credentials', { definition, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 40 } });
    expect(created.status).toBe(201);
    credentialId = created.body.id;
    expect((await call(teacher, 'POST', '/api/v1/course/sync')).status).toBe(200);
    const awarded = new Set((await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).map((a) => a.user_id));
    qualified = LEARNERS.map((l) => l.id).filter((id) => awarded.has(id));
    unqualified = LEARNERS.map((l) => l.id).find((id) => !awarded.has(id))!;
    expect(qualified.length).toBeGreaterThanOrEqual(4);
    expect(unqualified).toBeDefined();
  });
  afterAll(async () => {
    await lms.emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('the issuer is a did:web whose DID document and OB Profile the tool serves', async () => {
    const host = encodeURIComponent(new URL(tool.url).host);
    const did = await fetch(`${tool.url}/issuers/default/did.json`);
    expect(did.status).toBe(200);
    const doc = (await did.json()) as { id: string; verificationMethod: Array<{ id: string; type: string; publicKeyMultibase: string }>; assertionMethod: string[] };
    expect(doc.id).toBe(`did:web:${host}:issuers:default`);
    expect(doc.verificationMethod).toEqual([{ id: `${doc.id}#key-1`, type: 'Multikey', controller: doc.id, publicKeyMultibase: expect.stringMatching(/^z6Mk/) }]);
    expect(doc.assertionMethod).toEqual([`${doc.id}#key-1`]);
    const profile = (await (await fetch(`${tool.url}/issuers/default`)).json()) as Record<string, unknown>;
    expect(profile).toMatchObject({ id: doc.id, type: ['Profile'], name: expect.any(String) });
    expect((await fetch(`${tool.url}/issuers/nobody/did.json`)).status).toBe(404);
    // Secrets are only ever stored sealed.
    const key = await tool.database.db.selectFrom('issuer_key').selectAll().executeTakeFirstOrThrow();
    expect(key.sealed_secret).not.toMatch(/^z/);
  });

  test('a qualified learner claims a schema-valid credential that verifies with the bundled loader only; a tampered copy does not', async () => {
    const learner = await session(qualified[0]!);
    const first = await claim(learner);
    expect(first.status).toBe(201);
    const credential = first.body.credential as Record<string, any>;
    expect(validateSchema(credential)).toBe(true);
    expect(validateSchema.errors ?? []).toEqual([]);
    expect(credential).toMatchObject({
      '@context': ['https://www.w3.org/ns/credentials/v2', 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json', `${tool.url}/ns/microcredential/v1`],
      type: ['VerifiableCredential', 'OpenBadgeCredential'],
      issuer: { id: expect.stringMatching(/^did:web:.*:issuers:default$/) },
      credentialSubject: { creditsEarned: 1, achievement: { name: definition.name, creditsAvailable: 1 } },
      credentialStatus: { type: 'BitstringStatusListEntry', statusPurpose: 'revocation', statusListCredential: expect.stringMatching(new RegExp(`^${tool.url}/status/\\d+$`)) },
      proof: [{ type: 'DataIntegrityProof', cryptosuite: 'eddsa-rdfc-2022', proofPurpose: 'assertionMethod' }],
    });
    expect(Date.parse(credential.validUntil) - Date.parse(credential.validFrom)).toBeGreaterThan(35 * 30 * 86400_000);
    // The email is present only as a salted hash.
    expect(JSON.stringify(credential)).not.toContain(LEARNERS.find((l) => l.id === qualified[0])!.email);
    expect(credential.credentialSubject.identifier[0]).toMatchObject({ type: 'IdentityObject', hashed: true, identityType: 'emailAddress' });

    expect(await verifyProof(credential, tool.app.issuance.documentLoader)).toEqual({ verified: true });
    const tampered = structuredClone(credential);
    tampered.credentialSubject.creditsEarned = 30;
    expect((await verifyProof(tampered, tool.app.issuance.documentLoader)).verified).toBe(false);

    // The Achievement published at its id is the one the credential carries.
    const { '@context': achievementContext, ...published } = (await (await fetch(credential.credentialSubject.achievement.id)).json()) as Record<string, unknown>;
    expect(achievementContext).toEqual(credential['@context']);
    expect(published).toEqual(credential.credentialSubject.achievement);

    const again = await claim(learner);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
  });

  test('100 parallel claims give exactly one credential', async () => {
    const learner = await session(qualified[1]!);
    const answers = await Promise.all(Array.from({ length: 100 }, () => claim(learner)));
    expect(answers.every((a) => a.status === 200 || a.status === 201)).toBe(true);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    const rows = await tool.database.db.selectFrom('issued_credential').select(['id']).where('credential_id', '=', credentialId).where('user_id', '=', qualified[1]!).execute();
    expect(rows).toHaveLength(1);
  });

  test('claims of many learners at once get distinct status bits', async () => {
    const learners = await Promise.all(qualified.slice(2).map((id) => session(id)));
    const answers = await Promise.all(learners.map((l) => claim(l)));
    expect(answers.map((a) => a.status)).toEqual(learners.map(() => 201));
    const bits = await tool.database.db.selectFrom('issued_credential').select(['status_list_id', 'status_index']).execute();
    expect(new Set(bits.map((b) => `${b.status_list_id}/${b.status_index}`)).size).toBe(bits.length);
  });

  test('a definition with autoIssue issues its awards at the next run, without a claim', async () => {
    const created = await call(teacher, 'POST', '/api/v1/credentials', { definition: { ...definition, name: 'Auto-issued', autoIssue: true }, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 40 } });
    expect(created.status).toBe(201);
    expect((await call(teacher, 'POST', '/api/v1/course/sync')).status).toBe(200);
    // Issuing runs in the background, so the sync answers before the signing is done.
    await tool.app.automaticIssuance.idle();
    const issued = await tool.database.db.selectFrom('issued_credential').select('user_id').where('credential_id', '=', created.body.id).execute();
    expect(issued.map((i) => i.user_id).sort()).toEqual([...qualified].sort());
  });

  test('the verify API checks each part and reports it in Japanese and English', async () => {
    const learner = await session(qualified[0]!);
    const { body: issued } = await call(learner, 'GET', '/api/v1/issued');
    const credential = issued.issued[0].credential as Record<string, any>;

    const valid = await verify(JSON.stringify(credential));
    expect(valid.status).toBe(200);
    expect(valid.body.verdict).toBe('valid');
    expect(outcomes(valid.body.checks)).toEqual({ format: 'passed', contexts: 'passed', schema: 'passed', issuer: 'passed', proof: 'passed', status: 'passed', validity: 'passed' });
    expect(valid.body.message).toMatch(/有効/);
    expect(valid.body.checks.find((c) => c.check === 'proof')!.messages.en).toMatch(/Signature: .*valid/);

    const tampered = structuredClone(credential);
    tampered.credentialSubject.achievement.name = 'PhD in Everything';
    const bad = await verify(JSON.stringify(tampered));
    expect(bad.body.verdict).toBe('invalid');
    expect(outcomes(bad.body.checks).proof).toBe('failed');

    const garbage = await verify('{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ');
    expect(garbage.status).toBe(200);
    expect(garbage.body).toMatchObject({ verdict: 'invalid', checks: [{ check: 'format', outcome: 'failed' }] });
    expect((await verify('[1, 2, 3]')).body.checks[0]).toMatchObject({ check: 'format', outcome: 'failed' });

    // A remote context is reported, never fetched.
    let fetched = false;
    const trap = (await import('node:http')).createServer((_req, res) => { fetched = true; res.end('{}'); });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const remote = `http://127.0.0.1:${(trap.address() as { port: number }).port}/context.json`;
    const foreign = await verify(JSON.stringify({ ...credential, '@context': [...credential['@context'], remote] }));
    trap.close();
    expect(foreign.body.verdict).toBe('unverifiable');
    expect(foreign.body.checks.find((c) => c.check === 'contexts')).toMatchObject({ outcome: 'unresolvable', message: expect.stringContaining(remote) });
    expect(fetched).toBe(false);

    const padded = structuredClone(credential);
    padded.credentialSubject.achievement.description = 'あ'.repeat(200_000);
    // Too large to canonicalize on the event loop: refused by size, without an attempt.
    const oversized = await verify(JSON.stringify(padded));
    expect(oversized.body.verdict).toBe('invalid');
    expect(oversized.body.checks.find((c) => c.check === 'proof')).toMatchObject({ outcome: 'failed', detail: 'too_large', message: expect.stringMatching(/^この証明は \d+ KiB/) });

    const huge = await verify(JSON.stringify({ padding: 'x'.repeat(10 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect((huge.body as unknown as { message: string }).message).toBeTruthy();
    expect((await fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/pdf' }, body: 'x' })).status).toBe(415);
  });

  test('the baked SVG and PNG and the PDF certificate download, and the baked badges verify', async () => {
    const learner = await session(qualified[0]!);
    const { body } = await call(learner, 'GET', '/api/v1/issued');
    const issuedId = body.issued[0].id as string;
    const download = async (format: string) => {
      const res = await learner.browser.fetch(`${tool.url}/api/v1/issued/${issuedId}/${format}`, { bearer: learner.ltik });
      expect(res.status).toBe(200);
      return { type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
    };
    for (const [format, type] of [['badge.png', 'image/png'], ['badge.svg', 'image/svg+xml']] as const) {
      const file = await download(format);
      expect(file.type).toContain(type);
      expect(JSON.parse(extractBakedCredential(file.bytes).credentialText).id).toBe(`urn:uuid:${issuedId}`);
      expect((await verify(file.bytes, type)).body.verdict).toBe('valid');
    }
    const pdf = await download('certificate.pdf');
    expect(pdf.type).toContain('application/pdf');
    expect(pdf.bytes.subarray(0, 5).toString()).toBe('%PDF-');
    expect((await verify(Buffer.from('not an image'), 'image/png')).body.checks[0]).toMatchObject({ check: 'format', outcome: 'failed' });
    // Someone else's credential is not found, even for a learner of the same course.
    const other = await session(qualified[1]!);
    expect((await other.browser.fetch(`${tool.url}/api/v1/issued/${issuedId}/badge.png`, { bearer: other.ltik })).status).toBe(404);
  });

  test('share links are off by default; once on, anyone can see and verify the credential', async () => {
    const learner = await session(qualified[2]!);
    const { body } = await call(learner, 'GET', '/api/v1/issued');
    const issuedId = body.issued[0].id as string;
    expect((await fetch(`${tool.url}/credentials/${issuedId}`)).status).toBe(404);
    expect((await call(learner, 'PUT', `/api/v1/issued/${issuedId}/share`, { enabled: 'yes' })).status).toBe(400);
    expect((await call(teacher, 'PUT', `/api/v1/issued/${issuedId}/share`, { enabled: true })).status).toBe(403);
    expect((await call(learner, 'PUT', `/api/v1/issued/${issuedId}/share`, { enabled: true })).body).toEqual({ id: issuedId, shared: true });
    const page = await fetch(`${tool.url}/credentials/${issuedId}`, { headers: { 'accept-language': 'ja' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-verdict="valid"');
    const verifyPage = await (await fetch(`${tool.url}/verify?credential=${issuedId}`)).text();
    expect(verifyPage).toContain('data-verdict="valid"');
    const json = await fetch(`${tool.url}/credentials/${issuedId}/credential.json`);
    expect(((await json.json()) as { id: string }).id).toBe(`urn:uuid:${issuedId}`);
  });

  test('learners cannot claim what they were not awarded or do staff actions; staff award by hand with a note', async () => {
    const learner = await session(unqualified);
    expect(await claim(learner)).toMatchObject({ status: 409, body: { error: 'not_awarded' } });
    expect((await call(learner, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userId: unqualified, note: 'me' })).status).toBe(403);
    expect((await call(learner, 'POST', `/api/v1/credentials/${credentialId}/revocations`, { userId: qualified[0], reason: 'x' })).status).toBe(403);
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userId: unqualified })).body.errors).toEqual([{ path: '/note', message: expect.any(String) }]);
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userId: 'nobody', note: 'x' })).status).toBe(404);
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userId: unqualified, note: 'Completed the make-up exam on paper' })).status).toBe(201);
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userId: unqualified, note: 'again' })).status).toBe(409);
    expect((await claim(learner)).status).toBe(201);
    const audit = await tool.database.db.selectFrom('audit_event').select(['actor', 'details']).where('action', '=', 'award.manual').executeTakeFirstOrThrow();
    expect(audit).toMatchObject({ actor: TEACHER.id, details: { note: 'Completed the make-up exam on paper' } });
  });

  test('revoking sets the bit in the signed, published status list; the verifier and the learner see it', async () => {
    const learner = await session(qualified[0]!);
    const { body } = await call(learner, 'GET', '/api/v1/issued');
    const credential = body.issued[0].credential as Record<string, any>;
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/revocations`, { userId: qualified[0] })).status).toBe(400);
    const revoked = await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/revocations`, { userId: qualified[0], reason: 'Academic misconduct in quiz 2' });
    expect(revoked).toMatchObject({ status: 200, body: { revokedCredential: body.issued[0].id } });
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/revocations`, { userId: qualified[0], reason: 'again' })).status).toBe(409);

    const report = await verify(JSON.stringify(credential));
    expect(report.body.verdict).toBe('revoked');
    expect(outcomes(report.body.checks)).toMatchObject({ proof: 'passed', status: 'failed' });

    const list = (await (await fetch(credential.credentialStatus.statusListCredential)).json()) as Record<string, any>;
    expect(list).toMatchObject({ type: ['VerifiableCredential', 'BitstringStatusListCredential'], issuer: credential.issuer.id, credentialSubject: { statusPurpose: 'revocation' } });
    expect(await verifyProof(list, tool.app.issuance.documentLoader)).toEqual({ verified: true });
    expect(StatusBits.decode(list.credentialSubject.encodedList).get(Number(credential.credentialStatus.statusListIndex))).toBe(true);

    const audit = await tool.database.db.selectFrom('audit_event').select(['actor', 'details']).where('action', '=', 'credential.revoked').executeTakeFirstOrThrow();
    expect(audit).toMatchObject({ actor: TEACHER.id, details: { reason: 'Academic misconduct in quiz 2' } });
    const page = await learner.browser.fetch(`${tool.url}/app/issued/${body.issued[0].id}?ltik=${encodeURIComponent(learner.ltik)}`);
    expect(await page.text()).toContain('data-testid="credential-revoked"');
    // A revoked award is not claimed again, and the next sync does not award it again.
    expect(await claim(learner)).toMatchObject({ status: 409, body: { error: 'award_revoked' } });
    expect((await call(teacher, 'POST', '/api/v1/course/sync')).status).toBe(200);
    expect(await claim(learner)).toMatchObject({ status: 409, body: { error: 'award_revoked' } });
  });

  test('after a key rotation, new credentials use the new key and old ones still verify', async () => {
    const before = await call(await session(qualified[1]!), 'GET', '/api/v1/issued');
    const old = before.body.issued[0].credential as Record<string, any>;
    const { retired, current } = await tool.app.issuers.rotateKey('default', 'admin');
    expect(retired).toMatch(/#key-1$/);
    expect(current).toMatch(/#key-2$/);
    expect((await verify(JSON.stringify(old))).body.verdict).toBe('valid');
    const holders = new Set((await tool.database.db.selectFrom('issued_credential').select('user_id').where('credential_id', '=', credentialId).execute()).map((i) => i.user_id));
    const newcomer = LEARNERS.map((l) => l.id).find((id) => !holders.has(id) && !qualified.includes(id))!;
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userId: newcomer, note: 'Recognised prior learning' })).status).toBe(201);
    const fresh = await claim(await session(newcomer));
    expect(fresh.status).toBe(201);
    expect(fresh.body.credential.proof[0].verificationMethod).toBe(current);
    expect((await verify(JSON.stringify(fresh.body.credential))).body.verdict).toBe('valid');
    const doc = (await (await fetch(`${tool.url}/issuers/default/did.json`)).json()) as { assertionMethod: string[] };
    expect(doc.assertionMethod).toEqual([retired, current]);
  });

  test('expiry and a foreign status list are their own verdicts', async () => {
    const { body } = await call(await session(qualified[1]!), 'GET', '/api/v1/issued');
    const credential = body.issued[0].credential as Record<string, any>;
    const { verifyPresentedCredential } = await import('../../src/issuance/verification.js');
    const deps = {
      documentLoader: tool.app.issuance.documentLoader,
      ownContexts: new Set([`${tool.url}/ns/microcredential/v1`]),
      canResolveIssuer: async (did: string) => did === credential.issuer.id,
      statusOf: async () => undefined,
    };
    const later = await verifyPresentedCredential(credential, { ...deps, statusOf: async () => ({ revoked: false }), now: new Date(Date.parse(credential.validUntil) + 1000) });
    expect(later.verdict).toBe('expired');
    expect(later.checks.find((c) => c.check === 'proof')!.outcome).toBe('passed');
    const unknownList = await verifyPresentedCredential(credential, deps);
    expect(unknownList.checks.find((c) => c.check === 'status')!.outcome).toBe('unresolvable');
  });

  test('in the launch page a learner claims with the button, opens the credential and turns on its share link', async () => {
    const holders = new Set((await tool.database.db.selectFrom('issued_credential').select('user_id').where('credential_id', '=', credentialId).execute()).map((i) => i.user_id));
    const learnerId = LEARNERS.map((l) => l.id).find((id) => !holders.has(id))!;
    expect((await call(teacher, 'POST', `/api/v1/credentials/${credentialId}/awards`, { userId: learnerId, note: 'Completed via the exam board' })).status).toBe(201);
    const browser = new LtiBrowser('ja');
    const page = await browser.launch(lms.emu, { userId: learnerId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    expect(page.html).toContain(`action="/app/credentials/${credentialId}/claim"`);
    const claimed = await browser.fetch(`${tool.url}/app/credentials/${credentialId}/claim`, { form: { ltik: page.ltik! } });
    expect(claimed.status).toBe(303);
    const issuedPage = await browser.follow(claimed, tool.url);
    expect(issuedPage.status).toBe(200);
    expect(issuedPage.html).toContain('data-testid="download-certificate.pdf"');
    expect(issuedPage.html).not.toContain('data-testid="linkedin"');
    const issuedId = new URL(issuedPage.url).pathname.split('/').pop()!;
    const shared = await browser.follow(await browser.fetch(`${tool.url}/app/issued/${issuedId}/share`, { form: { ltik: page.ltik!, enabled: 'true' } }), tool.url);
    expect(shared.html).toContain('data-testid="linkedin"');
    expect(shared.html).toContain('https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME');
    expect((await fetch(`${tool.url}/credentials/${issuedId}`)).status).toBe(200);
    // Another learner cannot open it.
    const other = await session(qualified[1]!);
    expect((await other.browser.fetch(`${tool.url}/app/issued/${issuedId}?ltik=${encodeURIComponent(other.ltik)}`)).status).toBe(404);
  });

  test('the CLI exports every issued credential for backup and audit', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'credentials-')), 'export');
    const out: string[] = [];
    expect(await runCli(['credentials', 'export', '--out', dir], (l) => out.push(l), { ...target.env, LOG_LEVEL: 'silent' })).toBe(0);
    const issued = await tool.database.db.selectFrom('issued_credential').select(['id', 'revoked_at']).execute();
    expect(out).toEqual([`Wrote ${issued.length} credentials to ${dir}.`]);
    const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { credentials: Array<{ id: string; revoked_at: string | null; file: string }> };
    expect(index.credentials.map((c) => c.id).sort()).toEqual(issued.map((i) => i.id).sort());
    expect(index.credentials.filter((c) => c.revoked_at !== null)).toHaveLength(1);
    for (const entry of index.credentials) expect(validateSchema(JSON.parse(readFileSync(path.join(dir, entry.file), 'utf8')))).toBe(true);
  });
});
