import { decodeJwt, SignJWT } from 'jose';
import { runCli } from '../../src/cli.js';
import { LmsEmulator } from '../emulator/index.js';
import { SERVICE_SCOPES as SCOPES } from '../emulator/vocabulary.js';
import { ADMIN, LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, seedSampleCourse, TEACHER } from '../fixtures/sample-course.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { LtiBrowser, parseAutoPostForm } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';


const text = (html: string, testId: string) => new RegExp(`data-testid="${testId}"[^>]*>([^<]*)<`).exec(html)?.[1]?.trim();

describe.each(DATABASE_KINDS)('Moodle: Dynamic Registration and launches on %s', (kind) => {
  let target: TestDatabase;
  let tool: TestTool;
  let emu: LmsEmulator;

  beforeAll(async () => {
    target = await createTestDatabase(kind);
    tool = await startTestTool(target.env);
    emu = new LmsEmulator({ flavor: 'moodle' });
    await emu.start();
  });
  afterAll(async () => {
    await emu.stop();
    await tool.stop();
    await target.dispose();
  });

  let clientId: string;

  test('the admin pastes the registration URL; the tool registers itself and asks only for what it uses', async () => {
    const res = await fetch(emu.dynamicRegistrationUrl(`${tool.url}/register`));
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(text(html, 'registration-done')).toBe('Registration complete');
    expect(html).toContain('/static/registration-close.js');
    const closeScript = await (await fetch(`${tool.url}/static/registration-close.js`)).text();
    expect(closeScript).toContain("postMessage({ subject: 'org.imsglobal.lti.close' }, '*')");

    const [registered] = emu.tools();
    expect(registered).toBeDefined();
    clientId = registered!.clientId;
    const request = registered!.registrationRequest as Record<string, unknown>;
    const toolConfig = request['https://purl.imsglobal.org/spec/lti-tool-configuration'] as Record<string, unknown>;
    expect((request.scope as string).split(' ').sort()).toEqual([...SCOPES].sort());
    expect(registered!.scopes.sort()).toEqual([...SCOPES].sort());
    expect(request).toMatchObject({
      initiate_login_uri: `${tool.url}/lti/login`,
      redirect_uris: [`${tool.url}/lti/launch`],
      jwks_uri: `${tool.url}/lti/keys`,
      token_endpoint_auth_method: 'private_key_jwt',
    });
    expect(toolConfig.domain).toBe(new URL(tool.url).host);
    expect((toolConfig.messages as Array<{ type: string }>).map((m) => m.type)).toEqual(['LtiResourceLinkRequest', 'LtiDeepLinkingRequest']);
    expect(toolConfig.claims).toEqual(expect.arrayContaining(['sub', 'name', 'email']));
    expect(toolConfig.claims).not.toContain('picture');
    // Moodle starts the tool as pending, and so does the tool until its admin activates it.
    expect(registered!.status).toBe('pending');
    const [platform] = await tool.app.platforms.list();
    expect(platform).toMatchObject({ issuer: emu.url, clientId, active: false, deploymentIds: [registered!.deploymentId], productFamily: 'moodle', source: 'dynamic_registration' });
  });

  test('a launch waits for the tool admin to activate the platform', async () => {
    emu.activateTool(clientId);
    seedSampleCourse(emu, clientId);
    const page = await new LtiBrowser().launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    expect(page.status).toBe(403);
    expect(text(page.html, 'error-title')).toBe('This LMS registration is waiting for activation');

    const out: string[] = [];
    // The CLI reaches the running tool's database (the embedded one through its socket).
    expect(await runCli(['platform', 'activate', '--issuer', emu.url, '--client-id', clientId], (l) => out.push(l), { ...target.env, LOG_LEVEL: 'silent' })).toBe(0);
    expect(out.join('\n')).toMatch(/^active/);
  });

  test('a teacher lands on the staff page of the course', async () => {
    const page = await new LtiBrowser('en').launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    expect(page.status).toBe(200);
    expect(page.ltik).toBeDefined();
    expect(text(page.html, 'course-title')).toBe(SAMPLE_COURSE.title);
    expect(text(page.html, 'user-name')).toBe(TEACHER.name);
    // The teacher's launch locale is Japanese and wins over the browser's English.
    expect(text(page.html, 'role')).toBe('教員');
    expect(text(page.html, 'next-steps')).toBe('このコースにはまだマイクロクレデンシャルがありません。');
    const contexts = await tool.database.db.selectFrom('lti_context').selectAll().execute();
    expect(contexts).toEqual([expect.objectContaining({
      issuer: emu.url, client_id: clientId, context_id: SAMPLE_COURSE.id, title: SAMPLE_COURSE.title,
      ags_lineitems_url: expect.stringContaining(`/mod/lti/services.php/${SAMPLE_COURSE.id}/lineitems`),
      nrps_memberships_url: expect.stringContaining(`/CourseSection/${SAMPLE_COURSE.id}/bindings/`),
      ags_scopes: expect.arrayContaining(['https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly']),
    })]);
  });

  test('a learner lands on the learner page, in the launch language', async () => {
    const english = LEARNERS.find((l) => l.locale === 'en')!;
    const page = await new LtiBrowser('ja').launch(emu, { userId: english.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    expect(page.status).toBe(200);
    expect(text(page.html, 'role')).toBe('Learner');
    expect(text(page.html, 'user-name')).toBe(english.name);
    expect(text(page.html, 'next-steps')).toBe('No micro-credentials are offered in this course yet.');
    expect(page.html).toContain('<html lang="en">');
  });

  test('an administrator sees the registration of their own platform', async () => {
    const page = await new LtiBrowser().launch(emu, { userId: ADMIN.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    expect(page.status).toBe(200);
    expect(text(page.html, 'role')).toBe('Administrator');
    expect(page.html).toContain(`<code>${clientId}</code>`);
  });

  test('the session is the ltik alone: it needs no cookie, expires, and cannot be forged', async () => {
    const teacher = new LtiBrowser();
    const page = await teacher.launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    const claims = decodeJwt(page.ltik!);
    expect(claims.exp! - claims.iat!).toBe(480 * 60);
    // A browser without any cookie of the launch (as where third-party cookies are blocked).
    const cookieless = await new LtiBrowser().follow(await new LtiBrowser().fetch(`${tool.url}/lti/launch?ltik=${page.ltik}`), tool.url);
    expect(cookieless.status).toBe(200);
    expect(text(cookieless.html, 'user-name')).toContain(TEACHER.name);

    const key = new TextEncoder().encode(tool.config.ltiEncryptionKey);
    const { iat: _iat, exp: _exp, ...payload } = claims;
    const expired = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(key);
    const late = await new LtiBrowser().follow(await new LtiBrowser().fetch(`${tool.url}/lti/launch?ltik=${expired}`), tool.url);
    expect(late.status).toBe(401);
    expect(text(late.html, 'error-title')).toBe('Your session has ended');
    const forged = await new SignJWT({ ...payload, user: LEARNERS[0]!.id }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode('not-the-key-not-the-key-not-the-key'));
    expect((await new LtiBrowser().fetch(`${tool.url}/lti/launch?ltik=${forged}`)).status).toBe(401);
  });

  test('a teacher places the tool with Deep Linking; the platform receives a signed resource link', async () => {
    const browser = new LtiBrowser();
    const picker = await browser.launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, clientId, messageType: 'LtiDeepLinkingRequest' });
    expect(picker.status).toBe(200);
    const form = parseAutoPostForm(picker.html);
    expect(form.action).toBe('/app/deep-link');
    const response = await browser.fetch(`${tool.url}/app/deep-link`, { form: { ...form.fields, target: 'dashboard' } });
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain(`form-action 'self' ${emu.url}`);
    const toPlatform = parseAutoPostForm(await response.text());
    const accepted = await fetch(toPlatform.action, { method: 'POST', body: new URLSearchParams(toPlatform.fields), redirect: 'manual' });
    expect(accepted.status).toBeLessThan(400);
    const [received] = emu.deepLinkingResponses;
    expect(received!.contentItems).toEqual([expect.objectContaining({ type: 'ltiResourceLink', url: `${tool.url}/lti/launch`, title: 'マイクロクレデンシャル' })]);
    expect(received!.contentItems[0]).not.toHaveProperty('custom');

    const learnerPicker = await new LtiBrowser().launch(emu, { userId: LEARNERS[1]!.id, courseId: SAMPLE_COURSE.id, clientId, messageType: 'LtiDeepLinkingRequest' });
    expect(learnerPicker.status).toBe(403);
  });

  test('Deep Linking places one credential; its link opens that credential for the learner', async () => {
    const teacher = new LtiBrowser();
    const launched = await teacher.launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
    const definition = {
      name: 'SQL basics', description: 'Pass the SQL quiz.', criteriaNarrative: 'Score 60% or more in the quizzes.', language: 'en', version: '1.0',
      learningOutcomes: ['Write SQL queries'], workloadHours: 5, eqfLevel: 4, assessmentTypes: ['test'], participation: 'online',
      qualityAssurance: 'Internal review', awardingBody: { name: 'Example University' }, awardingCountry: 'JP',
    };
    const created = await teacher.fetch(`${tool.url}/api/v1/credentials`, { json: { definition, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 60 } }, bearer: launched.ltik });
    expect(created.status).toBe(201);
    const credentialId = ((await created.json()) as { id: string }).id;

    const picker = await teacher.launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, clientId, messageType: 'LtiDeepLinkingRequest' });
    expect(picker.html).toContain(`value="${credentialId}"`);
    const form = parseAutoPostForm(picker.html);
    const bogus = await teacher.fetch(`${tool.url}/app/deep-link`, { form: { ltik: form.fields.ltik!, target: '00000000-0000-4000-8000-000000000000' } });
    expect(bogus.status).toBe(404);
    const toPlatform = parseAutoPostForm(await (await teacher.fetch(`${tool.url}/app/deep-link`, { form: { ltik: form.fields.ltik!, target: credentialId } })).text());
    await fetch(toPlatform.action, { method: 'POST', body: new URLSearchParams(toPlatform.fields), redirect: 'manual' });
    const received = emu.deepLinkingResponses.at(-1)!;
    expect(received.contentItems).toEqual([expect.objectContaining({ title: 'SQL basics', custom: { credential_id: credentialId } })]);

    const learner = await new LtiBrowser().launch(emu, { userId: LEARNERS[2]!.id, courseId: SAMPLE_COURSE.id, resourceLinkId: received.createdResourceLinkIds[0]!, clientId });
    expect(learner.status).toBe(200);
    expect(learner.html).toMatch(/data-testid="focused-credential"[\s\S]*SQL basics/);
  });

  test('the tool obtains a client_credentials access token from the platform for its granted scopes', async () => {
    const platform = await tool.app.lti.getPlatform(emu.url, clientId);
    if (!platform) throw new Error('platform missing');
    const token = await platform.platformAccessToken(SCOPES.join(' '));
    expect(token.access_token).toEqual(expect.any(String));
    expect(emu.issuedAccessTokens()).toEqual(expect.arrayContaining([expect.objectContaining({ clientId, scopes: expect.arrayContaining(SCOPES) })]));
    const members = await fetch(`${emu.url}/mod/lti/services.php/CourseSection/${SAMPLE_COURSE.id}/bindings/${emu.tools()[0]!.toolTypeId}/memberships`, {
      headers: { authorization: `Bearer ${token.access_token}`, accept: 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json' },
    });
    expect(members.status).toBe(200);
    expect(((await members.json()) as { members: unknown[] }).members).toHaveLength(32);
  });

  test('no secret reached the logs', () => {
    const logs = tool.logs.text();
    expect(logs).toContain('LTI login or launch rejected');
    expect(logs).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/); // no JWT: id_token, ltik, client assertion
    expect(logs).not.toContain(tool.config.ltiEncryptionKey);
    expect(logs).not.toMatch(/ltik=/);
  });
});

describe('Canvas: Dynamic Registration with auto-activation', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let emu: LmsEmulator;

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool({ ...target.env, LTI_DYNREG_AUTO_ACTIVATE: 'true' });
    emu = new LmsEmulator({ flavor: 'canvas' });
    await emu.start();
  });
  afterAll(async () => {
    await emu.stop();
    await tool.stop();
    await target.dispose();
  });

  test('registers with Canvas placements and privacy level, and launches at once', async () => {
    const res = await fetch(emu.dynamicRegistrationUrl(`${tool.url}/register`));
    expect(res.status).toBe(200);
    const [registered] = emu.tools();
    expect(registered!.status).toBe('active');
    const toolConfig = registered!.registrationRequest!['https://purl.imsglobal.org/spec/lti-tool-configuration'] as Record<string, unknown>;
    expect(toolConfig['https://canvas.instructure.com/lti/privacy_level']).toBe('public');
    expect(toolConfig.messages).toEqual([
      expect.objectContaining({ type: 'LtiResourceLinkRequest', placements: ['course_navigation'] }),
      expect.objectContaining({ type: 'LtiDeepLinkingRequest', placements: ['link_selection', 'assignment_selection'] }),
    ]);
    seedSampleCourse(emu, registered!.clientId);
    const page = await new LtiBrowser().launch(emu, { userId: LEARNERS[0]!.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: registered!.clientId });
    expect(page.status).toBe(200);
    expect(text(page.html, 'role')).toBe('Learner');
  });

  test('the Canvas developer-key JSON points at the tool', async () => {
    const json = (await (await fetch(`${tool.url}/lti/canvas.json`)).json()) as Record<string, unknown>;
    expect(json).toMatchObject({
      oidc_initiation_url: `${tool.url}/lti/login`,
      target_link_uri: `${tool.url}/lti/launch`,
      public_jwk_url: `${tool.url}/lti/keys`,
      scopes: SCOPES,
    });
    const keys = (await (await fetch(`${tool.url}/lti/keys`)).json()) as { keys: Array<{ kty: string; alg: string; use: string }> };
    expect(keys.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig' })]);
  });
});
