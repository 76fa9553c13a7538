import * as jose from 'jose';
import { FakeTool } from './fake-tool.js';
import { LmsEmulator, type EmulatorOptions, type LmsFlavor, type RegisteredTool } from './index.js';

const SCOPE = {
  lineItem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineItemReadOnly: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  resultReadOnly: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
  nrps: 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
};
const ALL_SCOPES = Object.values(SCOPE);
const AGS_CLAIM = 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint';
const NRPS_CLAIM = 'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice';
const DL_SETTINGS_CLAIM = 'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startEmulator(flavor: LmsFlavor, options: Omit<EmulatorOptions, 'flavor'> = {}): Promise<LmsEmulator> {
  const emulator = new LmsEmulator({ flavor, ...options });
  await emulator.start();
  cleanups.push(() => emulator.stop());
  return emulator;
}

async function startTool(): Promise<FakeTool> {
  const tool = await FakeTool.start();
  cleanups.push(() => tool.close());
  return tool;
}

interface Platform {
  emulator: LmsEmulator;
  tool: FakeTool;
  registered: RegisteredTool;
}

/** A course with a teacher, two learners and one resource link of a manually registered tool. */
async function platformWithTool(flavor: LmsFlavor, options: Omit<EmulatorOptions, 'flavor'> = {}): Promise<Platform> {
  const emulator = await startEmulator(flavor, options);
  const tool = await startTool();
  const registered = emulator.registerTool({
    name: 'Badge tool',
    initiateLoginUri: tool.loginUri,
    redirectUris: [tool.launchUri, tool.deepLinkingUri],
    targetLinkUri: tool.launchUri,
    jwksUri: tool.jwksUri,
    scopes: ALL_SCOPES,
    deepLinkingUri: tool.deepLinkingUri,
    customParameters: { course_title: '$Context.title', fixed: 'value' },
  });
  emulator.addCourse({ id: 'c1', title: 'Biology 101', label: 'BIO101' });
  emulator.addUser({ id: 't1', name: 'Tess Teacher', givenName: 'Tess', familyName: 'Teacher', email: 'tess@example.test' });
  emulator.addUser({ id: 'l1', name: 'Lena Learner', givenName: 'Lena', familyName: 'Learner', email: 'lena@example.test' });
  emulator.addUser({ id: 'l2', name: 'Leo Learner', givenName: 'Leo', familyName: 'Learner' });
  emulator.enrol('c1', 't1', ['Instructor']);
  emulator.enrol('c1', 'l1', ['Learner']);
  emulator.enrol('c1', 'l2', ['Learner']);
  emulator.addResourceLink('c1', { id: 'rl1', title: 'Final exam', toolClientId: registered.clientId, customParameters: { link_param: 'x' } });
  return { emulator, tool, registered };
}

async function accessToken(p: Platform, scope: string): Promise<string> {
  const response = await requestToken(p.emulator, await p.tool.clientAssertion(p.registered.clientId, p.emulator.endpoints.token), scope);
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function requestToken(emulator: LmsEmulator, assertion: string, scope: string): Promise<Response> {
  return fetch(emulator.endpoints.token, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope,
    }),
  });
}

function decodeHtml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Reads the auto-submitting form of an LMS page. */
function parseForm(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  if (action === undefined) throw new Error(`no form in page: ${html}`);
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"\/>/g)) {
    fields[decodeHtml(match[1]!)] = decodeHtml(match[2]!);
  }
  return { action: decodeHtml(action), fields };
}

/** RFC 8288 links of a Link header, by rel. */
function parseLinks(header: string | null): Record<string, string> {
  const links: Record<string, string> = {};
  for (const match of (header ?? '').matchAll(/<([^>]*)>\s*;\s*rel="([^"]+)"/g)) links[match[2]!] = match[1]!;
  return links;
}

/** What a tool does after receiving the login initiation: redirect the browser to the authorization endpoint. */
function authorizationUrl(
  emulator: LmsEmulator,
  form: Record<string, string>,
  overrides: Record<string, string> = {},
): string {
  const url = new URL(emulator.endpoints.authorization);
  const params: Record<string, string> = {
    scope: 'openid',
    response_type: 'id_token',
    response_mode: 'form_post',
    prompt: 'none',
    client_id: form.client_id!,
    redirect_uri: form.target_link_uri!,
    login_hint: form.login_hint!,
    lti_message_hint: form.lti_message_hint!,
    state: 'state-123',
    nonce: 'nonce-456',
    ...overrides,
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

async function launchClaims(p: Platform, launch: Parameters<LmsEmulator['initiateLogin']>[0]): Promise<jose.JWTPayload> {
  const { form } = p.emulator.initiateLogin(launch);
  const page = await fetch(authorizationUrl(p.emulator, form));
  expect(page.status).toBe(200);
  const { fields } = parseForm(await page.text());
  const jwks = jose.createRemoteJWKSet(new URL(p.emulator.endpoints.jwks));
  const { payload } = await jose.jwtVerify(fields.id_token!, jwks, { issuer: p.emulator.url, audience: p.registered.clientId });
  return payload;
}

function ltijsRegistrationRequest(tool: FakeTool): Record<string, unknown> {
  return {
    application_type: 'web',
    response_types: ['id_token'],
    grant_types: ['implicit', 'client_credentials'],
    initiate_login_uri: tool.loginUri,
    redirect_uris: [tool.launchUri],
    client_name: 'Badge tool',
    jwks_uri: tool.jwksUri,
    token_endpoint_auth_method: 'private_key_jwt',
    scope: `${SCOPE.score} ${SCOPE.nrps}`,
    'https://purl.imsglobal.org/spec/lti-tool-configuration': {
      domain: new URL(tool.url).host,
      target_link_uri: tool.launchUri,
      claims: ['iss', 'sub', 'name', 'given_name', 'family_name', 'email'],
      messages: [{ type: 'LtiResourceLinkRequest' }, { type: 'LtiDeepLinkingRequest', target_link_uri: tool.deepLinkingUri }],
    },
  };
}

function register(url: string, token: string | undefined, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

describe('openid configuration and dynamic registration', () => {
  test('moodle: configuration shape, registration of a pending tool with deployment id "1"', async () => {
    const emulator = await startEmulator('moodle');
    const tool = await startTool();
    const start = new URL(emulator.dynamicRegistrationUrl(`${tool.url}/register?x=1`));
    expect(start.searchParams.get('x')).toBe('1');
    const configurationUrl = start.searchParams.get('openid_configuration')!;
    const token = start.searchParams.get('registration_token')!;
    expect(configurationUrl).toBe(emulator.endpoints.openidConfiguration);

    const configurationResponse = await fetch(configurationUrl);
    expect(configurationResponse.status).toBe(200);
    expect(configurationResponse.headers.get('content-type')).toMatch(/^application\/json/);
    const configuration = (await configurationResponse.json()) as Record<string, unknown>;
    expect(configuration).toMatchObject({
      issuer: emulator.url,
      authorization_endpoint: emulator.endpoints.authorization,
      token_endpoint: emulator.endpoints.token,
      jwks_uri: emulator.endpoints.jwks,
      registration_endpoint: emulator.endpoints.registration,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['id_token'],
      subject_types_supported: ['public', 'pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
    });
    expect(configuration.scopes_supported).toEqual(expect.arrayContaining([...ALL_SCOPES, 'openid']));
    expect(configuration.claims_supported).toEqual(expect.arrayContaining(['iss', 'sub', 'name', 'email']));
    expect(configuration['https://purl.imsglobal.org/spec/lti-platform-configuration']).toMatchObject({
      product_family_code: 'moodle',
      messages_supported: [{ type: 'LtiResourceLinkRequest' }, { type: 'LtiDeepLinkingRequest' }],
    });

    const body = ltijsRegistrationRequest(tool);
    const response = await register(configuration.registration_endpoint as string, token, body);
    expect(response.status).toBe(200);
    const registration = (await response.json()) as Record<string, any>;
    expect(registration.client_id).toMatch(/^[A-Za-z0-9]{15}$/);
    expect(registration['https://purl.imsglobal.org/spec/lti-tool-configuration'].deployment_id).toBe('1');
    // Moodle grants the read scopes along with any AGS scope.
    expect(registration.scope.split(' ').sort()).toEqual([SCOPE.lineItemReadOnly, SCOPE.resultReadOnly, SCOPE.score, SCOPE.nrps].sort());

    const [registered] = emulator.tools();
    expect(registered).toMatchObject({
      clientId: registration.client_id,
      deploymentId: '1',
      status: 'pending',
      registeredVia: 'dynamic',
      domain: new URL(tool.url).host,
      deepLinkingUri: tool.deepLinkingUri,
      registrationRequest: body,
    });
    expect(registered!.messages).toHaveLength(2);

    emulator.addCourse({ id: 'c1', title: 'Course', label: 'C' });
    emulator.addUser({ id: 'u1', name: 'U One', givenName: 'U', familyName: 'One' });
    emulator.enrol('c1', 'u1', ['Instructor']);
    emulator.addResourceLink('c1', { id: 'rl1', title: 'Link', toolClientId: registered!.clientId });
    const launch = { userId: 'u1', courseId: 'c1', clientId: registered!.clientId };
    expect(() => emulator.initiateLogin(launch)).toThrow(/pending/);
    const refused = await fetch(emulator.launchUrl(launch));
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/pending/);

    emulator.activateTool(registered!.clientId);
    expect(emulator.initiateLogin(launch).url).toBe(tool.loginUri);

    const reused = await register(configuration.registration_endpoint as string, token, body);
    expect(reused.status).toBe(401);
  });

  test('canvas: tool is active at once, Canvas-style ids, token also in the configuration URL', async () => {
    const emulator = await startEmulator('canvas');
    const tool = await startTool();
    const start = new URL(emulator.dynamicRegistrationUrl(`${tool.url}/register`));
    const token = start.searchParams.get('registration_token')!;
    const configurationUrl = new URL(start.searchParams.get('openid_configuration')!);
    expect(configurationUrl.searchParams.get('registration_token')).toBe(token);
    const configuration = (await (await fetch(configurationUrl)).json()) as Record<string, any>;
    const platform = configuration['https://purl.imsglobal.org/spec/lti-platform-configuration'];
    expect(platform.product_family_code).toBe('canvas');
    expect(platform['https://canvas.instructure.com/lti/account_name']).toEqual(expect.any(String));

    const forged = new URL(configurationUrl);
    forged.searchParams.set('registration_token', 'forged');
    expect((await fetch(forged)).status).toBe(401);

    const response = await register(emulator.endpoints.registration, token, ltijsRegistrationRequest(tool));
    expect(response.status).toBe(200);
    const registration = (await response.json()) as Record<string, any>;
    expect(registration.client_id).toMatch(/^\d{14}$/);
    expect(registration['https://purl.imsglobal.org/spec/lti-tool-configuration'].deployment_id).toMatch(/^\d+:[0-9a-f]{40}$/);
    expect(registration.scope).toBe(`${SCOPE.score} ${SCOPE.nrps}`);
    expect(emulator.tools()[0]!.status).toBe('active');
  });

  test('registration failures: 401 without or with a bad token, 400 invalid_client_metadata for a bad body', async () => {
    const emulator = await startEmulator('moodle');
    const tool = await startTool();
    const token = new URL(emulator.dynamicRegistrationUrl(`${tool.url}/register`)).searchParams.get('registration_token')!;
    const good = ltijsRegistrationRequest(tool);

    expect((await register(emulator.endpoints.registration, undefined, good)).status).toBe(401);
    expect((await register(emulator.endpoints.registration, 'not-issued', good)).status).toBe(401);

    const badBodies: Array<[string, Record<string, unknown>]> = [
      ['token_endpoint_auth_method', { ...good, token_endpoint_auth_method: 'client_secret_basic' }],
      ['redirect_uris', { ...good, redirect_uris: [] }],
      ['grant_types', { ...good, grant_types: ['implicit'] }],
      ['application_type', { ...good, application_type: 'native' }],
      ['domain', { ...good, 'https://purl.imsglobal.org/spec/lti-tool-configuration': { target_link_uri: tool.launchUri } }],
    ];
    for (const [field, body] of badBodies) {
      const response = await register(emulator.endpoints.registration, token, body);
      expect(response.status).toBe(400);
      const error = (await response.json()) as { error: string; error_description: string };
      expect(error.error).toBe('invalid_client_metadata');
      expect(error.error_description).toContain(field);
    }
    // Rejected attempts do not use up the token.
    expect((await register(emulator.endpoints.registration, token, good)).status).toBe(200);
    expect(emulator.tools()).toHaveLength(1);
  });
});

describe('launch: login initiation and authorization endpoint', () => {
  test('launch page auto-posts the OIDC login initiation to the tool', async () => {
    const p = await platformWithTool('moodle');
    const page = await fetch(p.emulator.launchUrl({ userId: 'l1', courseId: 'c1', clientId: p.registered.clientId }));
    expect(page.status).toBe(200);
    const { action, fields } = parseForm(await page.text());
    expect(action).toBe(p.tool.loginUri);
    expect(fields).toMatchObject({
      iss: p.emulator.url,
      login_hint: 'l1',
      target_link_uri: p.tool.launchUri,
      client_id: p.registered.clientId,
      lti_deployment_id: p.registered.deploymentId,
    });
    expect(fields.lti_message_hint).toEqual(expect.any(String));

    const framed = await (await fetch(p.emulator.launchUrl({ userId: 'l1', courseId: 'c1', clientId: p.registered.clientId, presentation: 'iframe' }))).text();
    const frameSource = decodeHtml(/<iframe[^>]*src="([^"]*)"/.exec(framed)![1]!);
    const inner = parseForm(await (await fetch(frameSource)).text());
    expect(inner.action).toBe(p.tool.loginUri);
  });

  test('moodle: a valid id_token, verifiable with the platform JWKS, with Moodle claims', async () => {
    const p = await platformWithTool('moodle');
    const li = p.emulator.addLineItem('c1', { label: 'Final exam', scoreMaximum: 100, resourceLinkId: 'rl1' });
    const claims = await launchClaims(p, { userId: 't1', courseId: 'c1', clientId: p.registered.clientId });
    expect(claims).toMatchObject({
      sub: 't1',
      nonce: 'nonce-456',
      azp: p.registered.clientId,
      name: 'Tess Teacher',
      given_name: 'Tess',
      family_name: 'Teacher',
      email: 'tess@example.test',
      'https://purl.imsglobal.org/spec/lti/claim/message_type': 'LtiResourceLinkRequest',
      'https://purl.imsglobal.org/spec/lti/claim/version': '1.3.0',
      'https://purl.imsglobal.org/spec/lti/claim/deployment_id': p.registered.deploymentId,
      'https://purl.imsglobal.org/spec/lti/claim/target_link_uri': p.tool.launchUri,
      'https://purl.imsglobal.org/spec/lti/claim/resource_link': { id: 'rl1', title: 'Final exam' },
      'https://purl.imsglobal.org/spec/lti/claim/roles': ['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor'],
      'https://purl.imsglobal.org/spec/lti/claim/context': {
        id: 'c1',
        label: 'BIO101',
        title: 'Biology 101',
        type: ['http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering'],
      },
      'https://purl.imsglobal.org/spec/lti/claim/tool_platform': { product_family_code: 'moodle' },
      'https://purl.imsglobal.org/spec/lti/claim/launch_presentation': { locale: 'en', document_target: 'window' },
      'https://purl.imsglobal.org/spec/lti/claim/custom': { course_title: 'Biology 101', fixed: 'value', link_param: 'x' },
      'https://purl.imsglobal.org/spec/lti/claim/ext': { user_username: 't1', lms: 'moodle-2' },
      'https://purl.imsglobal.org/spec/lti/claim/lis': { person_sourcedid: '', course_section_sourcedid: '' },
    });
    expect(claims.exp! - claims.iat!).toBe(600);
    expect(claims.locale).toBeUndefined();
    const ags = claims[AGS_CLAIM] as Record<string, unknown>;
    expect(ags.lineitem).toBe(li.id);
    expect(new URL(ags.lineitems as string).searchParams.get('type_id')).toBe(p.registered.toolTypeId);
    expect(ags.scope).toEqual(expect.arrayContaining([SCOPE.lineItem, SCOPE.score]));
    expect(claims[NRPS_CLAIM]).toEqual({
      context_memberships_url: `${p.emulator.url}/mod/lti/services.php/CourseSection/c1/bindings/${p.registered.toolTypeId}/memberships`,
      service_versions: ['1.0', '2.0'],
    });
    expect(claims['https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome']).toMatchObject({
      lis_outcome_service_url: `${p.emulator.url}/mod/lti/service.php`,
    });
  });

  test('canvas: Canvas-specific claims and roles', async () => {
    const p = await platformWithTool('canvas');
    p.emulator.addUser({ id: 'ta', name: 'Tim Assistant', givenName: 'Tim', familyName: 'Assistant', locale: 'de' });
    p.emulator.enrol('c1', 'ta', ['TeachingAssistant']);
    const claims = await launchClaims(p, { userId: 'ta', courseId: 'c1', clientId: p.registered.clientId, presentation: 'iframe' });
    expect(claims.locale).toBe('de');
    expect(claims['https://purl.imsglobal.org/spec/lti/claim/roles']).toEqual(
      expect.arrayContaining([
        'http://purl.imsglobal.org/vocab/lis/v2/membership/instructor#TeachingAssistant',
        'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor',
        'http://purl.imsglobal.org/vocab/lis/v2/system/person#User',
      ]),
    );
    expect(claims['https://purl.imsglobal.org/spec/lti/claim/lti1p1']).toEqual({ user_id: expect.any(String) });
    expect(claims).toHaveProperty(['https://www.instructure.com/placement']);
    expect(claims['https://purl.imsglobal.org/spec/lti/claim/launch_presentation']).toMatchObject({ document_target: 'iframe', locale: 'de' });
    expect(claims[NRPS_CLAIM]).toEqual({ context_memberships_url: `${p.emulator.url}/api/lti/courses/c1/names_and_roles`, service_versions: ['2.0'] });
    expect(claims['https://purl.imsglobal.org/spec/lti/claim/ext']).toBeUndefined();
  });

  test('rejects a wrong redirect_uri and an unknown client with an error page; other errors go back to the tool', async () => {
    const p = await platformWithTool('moodle');
    const launch = { userId: 'l1', courseId: 'c1', clientId: p.registered.clientId };

    const wrongRedirect = await fetch(authorizationUrl(p.emulator, p.emulator.initiateLogin(launch).form, { redirect_uri: `${p.tool.launchUri}/x` }));
    expect(wrongRedirect.status).toBe(400);
    expect(wrongRedirect.headers.get('content-type')).toMatch(/^text\/html/);

    const unknownClient = await fetch(authorizationUrl(p.emulator, p.emulator.initiateLogin(launch).form, { client_id: 'nobody' }));
    expect(unknownClient.status).toBe(400);

    const badScope = await fetch(authorizationUrl(p.emulator, p.emulator.initiateLogin(launch).form, { scope: 'profile' }));
    expect(parseForm(await badScope.text())).toEqual({
      action: p.tool.launchUri,
      fields: { error: 'invalid_scope', error_description: expect.any(String), state: 'state-123' },
    });

    const wrongUser = await fetch(authorizationUrl(p.emulator, p.emulator.initiateLogin(launch).form, { login_hint: 'l2' }));
    expect(parseForm(await wrongUser.text()).fields.error).toBe('access_denied');

    const { form } = p.emulator.initiateLogin(launch);
    const first = parseForm(await (await fetch(authorizationUrl(p.emulator, form))).text());
    expect(first.fields.id_token).toEqual(expect.any(String));
    const replay = parseForm(await (await fetch(authorizationUrl(p.emulator, form))).text());
    expect(replay.fields.error).toBe('invalid_request');
  });

  test('signIdToken with the foreign key fails verification against the platform JWKS', async () => {
    const p = await platformWithTool('moodle');
    const claims = p.emulator.buildLaunchClaims({ userId: 'l1', courseId: 'c1', clientId: p.registered.clientId, nonce: 'n', targetLinkUri: p.tool.launchUri });
    const jwks = jose.createRemoteJWKSet(new URL(p.emulator.endpoints.jwks));
    await expect(jose.jwtVerify(await p.emulator.signIdToken(claims), jwks)).resolves.toBeDefined();
    const foreign = await p.emulator.signIdToken(claims, { key: 'foreign' });
    expect(jose.decodeProtectedHeader(foreign).kid).toBe(jose.decodeProtectedHeader(await p.emulator.signIdToken(claims)).kid);
    await expect(jose.jwtVerify(foreign, jwks)).rejects.toThrow(/signature/);
  });
});

describe('token endpoint', () => {
  test('issues a token for a valid client assertion; rejects a wrong key, a replayed jti and an ungranted scope', async () => {
    const p = await platformWithTool('canvas');
    const { emulator, tool, registered } = p;
    const assertion = await tool.clientAssertion(registered.clientId, emulator.endpoints.token);
    const ok = await requestToken(emulator, assertion, `${SCOPE.score} ${SCOPE.lineItem}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await ok.json()) as Record<string, unknown>;
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, scope: `${SCOPE.score} ${SCOPE.lineItem}` });
    expect(emulator.issuedAccessTokens()).toEqual([{ clientId: registered.clientId, scopes: [SCOPE.score, SCOPE.lineItem], expiresAt: expect.any(Number) }]);

    const replayed = await requestToken(emulator, assertion, SCOPE.score);
    expect(replayed.status).toBe(401);
    expect(await replayed.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/jti/) });

    const wrongKey = await requestToken(emulator, await tool.clientAssertion(registered.clientId, emulator.endpoints.token, {}, 'unpublished'), SCOPE.score);
    expect(wrongKey.status).toBe(401);
    expect(await wrongKey.json()).toMatchObject({ error: 'invalid_client' });

    const wrongAudience = await requestToken(emulator, await tool.clientAssertion(registered.clientId, emulator.url), SCOPE.score);
    expect(await wrongAudience.json()).toMatchObject({ error: 'invalid_client' });

    const expired = await requestToken(
      emulator,
      await tool.clientAssertion(registered.clientId, emulator.endpoints.token, { exp: Math.floor(Date.now() / 1000) - 120 }),
      SCOPE.score,
    );
    expect(await expired.json()).toMatchObject({ error: 'invalid_client' });

    const narrow = emulator.registerTool({
      name: 'Narrow',
      initiateLoginUri: tool.loginUri,
      redirectUris: [tool.launchUri],
      targetLinkUri: tool.launchUri,
      jwksUri: tool.jwksUri,
      scopes: [SCOPE.lineItemReadOnly],
    });
    const ungranted = await requestToken(emulator, await tool.clientAssertion(narrow.clientId, emulator.endpoints.token), SCOPE.score);
    expect(ungranted.status).toBe(400);
    expect(await ungranted.json()).toMatchObject({ error: 'invalid_scope' });
  });

  test('moodle answers JSON with a text/html Content-Type, 400 for every error, and narrows scopes', async () => {
    const p = await platformWithTool('moodle');
    const { emulator, tool, registered } = p;
    const ok = await requestToken(emulator, await tool.clientAssertion(registered.clientId, emulator.endpoints.token), SCOPE.lineItemReadOnly);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/html/);
    expect(JSON.parse(await ok.text())).toMatchObject({ token_type: 'Bearer', scope: SCOPE.lineItemReadOnly });

    const wrongKey = await requestToken(emulator, await tool.clientAssertion(registered.clientId, emulator.endpoints.token, {}, 'unpublished'), SCOPE.score);
    expect(wrongKey.status).toBe(400);
    expect(wrongKey.headers.get('content-type')).toMatch(/^text\/html/);
    expect(JSON.parse(await wrongKey.text())).toMatchObject({ error: 'invalid_client' });

    const narrow = emulator.registerTool({
      name: 'Narrow',
      initiateLoginUri: tool.loginUri,
      redirectUris: [tool.launchUri],
      targetLinkUri: tool.launchUri,
      jwksUri: tool.jwksUri,
      scopes: [SCOPE.lineItemReadOnly],
    });
    const partly = await requestToken(emulator, await tool.clientAssertion(narrow.clientId, emulator.endpoints.token), `${SCOPE.lineItemReadOnly} ${SCOPE.score}`);
    expect(JSON.parse(await partly.text())).toMatchObject({ scope: SCOPE.lineItemReadOnly });
    const none = await requestToken(emulator, await tool.clientAssertion(narrow.clientId, emulator.endpoints.token), SCOPE.score);
    expect(JSON.parse(await none.text())).toMatchObject({ error: 'invalid_scope' });
  });
});

function agsGet(url: string, token: string, accept: string): Promise<Response> {
  return fetch(url, { headers: { authorization: `Bearer ${token}`, accept } });
}

const LINE_ITEM_CONTAINER = 'application/vnd.ims.lis.v2.lineitemcontainer+json';
const RESULT_CONTAINER = 'application/vnd.ims.lis.v2.resultcontainer+json';
const MEMBERSHIP_CONTAINER = 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json';

function lineItemsUrlOf(p: Platform): string {
  const claims = p.emulator.buildLaunchClaims({ userId: 't1', courseId: 'c1', clientId: p.registered.clientId, nonce: 'n', targetLinkUri: p.tool.launchUri });
  return (claims[AGS_CLAIM] as { lineitems: string }).lineitems;
}

async function collectPages(firstUrl: string, token: string, accept: string): Promise<unknown[][]> {
  const pages: unknown[][] = [];
  let next: string | undefined = firstUrl;
  while (next) {
    const response = await agsGet(next, token, accept);
    expect(response.status).toBe(200);
    const body = (await response.json()) as unknown;
    pages.push(Array.isArray(body) ? body : (body as { members: unknown[] }).members);
    next = parseLinks(response.headers.get('link')).next;
  }
  return pages;
}

describe('AGS', () => {
  test('canvas: 25 line items come in pages of 10 linked by rel="next"', async () => {
    const p = await platformWithTool('canvas');
    for (let i = 1; i <= 25; i += 1) p.emulator.addLineItem('c1', { label: `Item ${i}`, scoreMaximum: 10, toolClientId: p.registered.clientId });
    const token = await accessToken(p, SCOPE.lineItemReadOnly);
    const pages = await collectPages(lineItemsUrlOf(p), token, LINE_ITEM_CONTAINER);
    expect(pages.map((page) => page.length)).toEqual([10, 10, 5]);
    expect(new Set(pages.flat().map((item) => (item as { label: string }).label)).size).toBe(25);
  });

  test('moodle: unpaged without limit; with limit, the Link header is Moodle\'s (curly quotes, &amp;)', async () => {
    const p = await platformWithTool('moodle');
    for (let i = 1; i <= 25; i += 1) p.emulator.addLineItem('c1', { label: `Item ${i}`, scoreMaximum: 10, toolClientId: p.registered.clientId });
    const token = await accessToken(p, SCOPE.lineItemReadOnly);
    const url = lineItemsUrlOf(p);

    const all = await agsGet(url, token, LINE_ITEM_CONTAINER);
    expect(all.headers.get('content-type')).toMatch(/^application\/vnd\.ims\.lis\.v2\.lineitemcontainer\+json/);
    expect((await all.json()) as unknown[]).toHaveLength(25);
    expect(all.headers.get('link')).toBeNull();

    const limited = new URL(url);
    limited.searchParams.set('limit', '10');
    const first = await agsGet(limited.toString(), token, LINE_ITEM_CONTAINER);
    expect((await first.json()) as unknown[]).toHaveLength(10);
    const link = Buffer.from(first.headers.get('link')!, 'latin1').toString('utf8');
    expect(link).toContain('rel=\u201cnext\u201d');
    expect(link).toContain(`?type_id=${p.registered.toolTypeId}&amp;limit=10&amp;from=10`);
    expect(parseLinks(first.headers.get('link')).next).toBeUndefined();

    expect((await agsGet(url, token, '*/*')).status).toBe(400);
  });

  test('moodle without paging quirks: rel="next" links lead through every page', async () => {
    const p = await platformWithTool('moodle', { defaultPageSize: 10, moodlePagingQuirks: false });
    for (let i = 1; i <= 25; i += 1) p.emulator.addLineItem('c1', { label: `Item ${i}`, scoreMaximum: 10, toolClientId: p.registered.clientId });
    const token = await accessToken(p, SCOPE.lineItemReadOnly);
    const pages = await collectPages(lineItemsUrlOf(p), token, LINE_ITEM_CONTAINER);
    expect(pages.map((page) => page.length)).toEqual([10, 10, 5]);
  });

  test('scores post to results; user_id filters results; flavors shape results their own way', async () => {
    for (const flavor of ['moodle', 'canvas'] as const) {
      const p = await platformWithTool(flavor);
      const li = p.emulator.addLineItem('c1', { label: 'Exam', scoreMaximum: 50, resourceLinkId: 'rl1' });
      const token = await accessToken(p, `${SCOPE.score} ${SCOPE.resultReadOnly}`);
      const scoresUrl = new URL(li.id);
      scoresUrl.pathname += '/scores';
      const post = await fetch(scoresUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.ims.lis.v1.score+json' },
        body: JSON.stringify({
          userId: 'l1',
          scoreGiven: 8,
          scoreMaximum: 10,
          activityProgress: 'Completed',
          gradingProgress: 'FullyGraded',
          timestamp: new Date().toISOString(),
          comment: 'Well done',
        }),
      });
      expect(post.status).toBe(200);
      p.emulator.setScore('c1', li.id, 'l2', { scoreGiven: 20, timestamp: new Date(Date.now() - 60_000).toISOString() });
      expect(p.emulator.getScore('c1', li.id, 'l1')).toMatchObject({ scoreGiven: 8, scoreMaximum: 10, comment: 'Well done' });

      const resultsUrl = new URL(li.id);
      resultsUrl.pathname += '/results';
      const all = (await (await agsGet(resultsUrl.toString(), token, RESULT_CONTAINER)).json()) as Array<Record<string, unknown>>;
      expect(all.map((r) => r.userId).sort()).toEqual(['l1', 'l2']);
      resultsUrl.searchParams.set('user_id', 'l1');
      const filtered = await agsGet(resultsUrl.toString(), token, RESULT_CONTAINER);
      expect(filtered.headers.get('content-type')).toMatch(/^application\/vnd\.ims\.lis\.v2\.resultcontainer\+json/);
      const [result] = (await filtered.json()) as Array<Record<string, unknown>>;
      if (flavor === 'moodle') {
        // Rescaled to the line item maximum, with Moodle's result id and PHP date format.
        expect(result).toEqual({
          id: `${li.id.split('?')[0]}/results?type_id=${p.registered.toolTypeId}&user_id=l1`,
          userId: 'l1',
          resultScore: 40,
          resultMaximum: 50,
          comment: 'Well done',
          scoreOf: li.id,
          timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/),
        });
      } else {
        expect(result).toEqual({
          id: expect.stringMatching(new RegExp(`^${li.id}/results/\\d+$`)),
          scoreOf: li.id,
          userId: 'l1',
          resultScore: 8,
          resultMaximum: 10,
          comment: 'Well done',
        });
      }
    }
  });

  test('scope enforcement: a token without the needed scope is refused with 401 (as Moodle and Canvas do)', async () => {
    const p = await platformWithTool('canvas');
    const li = p.emulator.addLineItem('c1', { label: 'Exam', scoreMaximum: 10, resourceLinkId: 'rl1' });
    const readOnly = await accessToken(p, SCOPE.lineItemReadOnly);
    expect((await agsGet(lineItemsUrlOf(p), readOnly, LINE_ITEM_CONTAINER)).status).toBe(200);
    const create = await fetch(lineItemsUrlOf(p), {
      method: 'POST',
      headers: { authorization: `Bearer ${readOnly}`, 'content-type': 'application/vnd.ims.lis.v2.lineitem+json' },
      body: JSON.stringify({ label: 'New', scoreMaximum: 5 }),
    });
    expect(create.status).toBe(401);
    expect(await create.json()).toEqual({ errors: { type: 'unauthorized', message: 'Insufficient permissions' } });
    expect((await agsGet(`${li.id}/results`, readOnly, RESULT_CONTAINER)).status).toBe(401);
    expect((await agsGet(lineItemsUrlOf(p), 'unknown-token', LINE_ITEM_CONTAINER)).status).toBe(401);

    const writer = await accessToken(p, SCOPE.lineItem);
    const created = await fetch(lineItemsUrlOf(p), {
      method: 'POST',
      headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/vnd.ims.lis.v2.lineitem+json' },
      body: JSON.stringify({ label: 'New', scoreMaximum: 5, resourceLinkId: 'rl1', tag: 'quiz' }),
    });
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ label: 'New', scoreMaximum: 5, resourceLinkId: 'rl1', tag: 'quiz' });
    const tagged = new URL(lineItemsUrlOf(p));
    tagged.searchParams.set('tag', 'quiz');
    expect(((await (await agsGet(tagged.toString(), writer, LINE_ITEM_CONTAINER)).json()) as unknown[]).length).toBe(1);
  });

  test('a score for a teacher: moodle 400, canvas 422', async () => {
    for (const [flavor, status] of [['moodle', 400], ['canvas', 422]] as const) {
      const p = await platformWithTool(flavor);
      const li = p.emulator.addLineItem('c1', { label: 'Exam', scoreMaximum: 10, resourceLinkId: 'rl1' });
      const token = await accessToken(p, SCOPE.score);
      const scoresUrl = new URL(li.id);
      scoresUrl.pathname += '/scores';
      const response = await fetch(scoresUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.ims.lis.v1.score+json' },
        body: JSON.stringify({
          userId: 't1',
          scoreGiven: 5,
          scoreMaximum: 10,
          activityProgress: 'Completed',
          gradingProgress: 'FullyGraded',
          timestamp: new Date().toISOString(),
        }),
      });
      expect(response.status).toBe(status);
    }
  });

  test('faults: expired-token gives 401 + WWW-Authenticate, rate-limit gives 429 + Retry-After, both for `times` requests', async () => {
    const p = await platformWithTool('canvas');
    const token = await accessToken(p, SCOPE.lineItemReadOnly);
    const url = lineItemsUrlOf(p);

    p.emulator.faults.set({ kind: 'expired-token', times: 1 });
    const expired = await agsGet(url, token, LINE_ITEM_CONTAINER);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect((await agsGet(url, token, LINE_ITEM_CONTAINER)).status).toBe(200);

    p.emulator.faults.set({ kind: 'rate-limit', retryAfterSeconds: 7, times: 2, pathPrefix: '/api/lti/courses/' });
    // The token endpoint is outside the prefix and answers normally.
    await accessToken(p, SCOPE.lineItemReadOnly);
    for (let i = 0; i < 2; i += 1) {
      const limited = await agsGet(url, token, LINE_ITEM_CONTAINER);
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('7');
    }
    expect((await agsGet(url, token, LINE_ITEM_CONTAINER)).status).toBe(200);

    p.emulator.faults.set({ kind: 'server-error', pathPrefix: p.emulator.endpoints.token });
    expect((await requestToken(p.emulator, await p.tool.clientAssertion(p.registered.clientId, p.emulator.endpoints.token), SCOPE.score)).status).toBe(500);
    expect((await agsGet(url, token, LINE_ITEM_CONTAINER)).status).toBe(200);

    p.emulator.faults.set({ kind: 'slow', delayMs: 300, times: 1 });
    const started = Date.now();
    expect((await agsGet(url, token, LINE_ITEM_CONTAINER)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    p.emulator.faults.clear();

    const served = p.emulator.requests.filter((r) => r.path === new URL(url).pathname);
    expect(served.map((r) => r.status)).toEqual([401, 200, 429, 429, 200, 200, 200]);
    expect(served[0]!.scope).toBeUndefined();
    expect(served[1]!.scope).toBe(SCOPE.lineItemReadOnly);
  });

  test('an access token past its lifetime is refused', async () => {
    const p = await platformWithTool('moodle', { accessTokenTtlSeconds: 1 });
    const token = await accessToken(p, SCOPE.lineItemReadOnly);
    const url = lineItemsUrlOf(p);
    expect((await agsGet(url, token, LINE_ITEM_CONTAINER)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await agsGet(url, token, LINE_ITEM_CONTAINER)).status).toBe(401);
  });
});

describe('NRPS', () => {
  async function withMembers(flavor: LmsFlavor): Promise<Platform> {
    const p = await platformWithTool(flavor);
    for (let i = 1; i <= 20; i += 1) {
      p.emulator.addUser({ id: `s${i}`, name: `Student ${i}`, givenName: 'Student', familyName: String(i) });
      p.emulator.enrol('c1', `s${i}`, ['Learner']);
    }
    return p;
  }

  test('canvas: 23 members in pages of 10, full role URIs, context', async () => {
    const p = await withMembers('canvas');
    const token = await accessToken(p, SCOPE.nrps);
    const url = `${p.emulator.url}/api/lti/courses/c1/names_and_roles`;
    const first = await agsGet(url, token, MEMBERSHIP_CONTAINER);
    expect(first.headers.get('content-type')).toMatch(/^application\/vnd\.ims\.lti-nrps\.v2\.membershipcontainer\+json/);
    const body = (await first.json()) as { context: unknown; members: Array<Record<string, unknown>> };
    expect(body.context).toEqual({ id: 'c1', label: 'BIO101', title: 'Biology 101' });
    expect(body.members[0]).toMatchObject({ status: 'Active', user_id: 't1', roles: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor'] });
    const pages = await collectPages(url, token, MEMBERSHIP_CONTAINER);
    expect(pages.map((page) => page.length)).toEqual([10, 10, 3]);

    const teachers = new URL(url);
    teachers.searchParams.set('role', 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor');
    expect(((await (await agsGet(teachers.toString(), token, MEMBERSHIP_CONTAINER)).json()) as { members: unknown[] }).members).toHaveLength(1);
  });

  test('moodle: limit/from paging with rel="next", short role names', async () => {
    const p = await withMembers('moodle');
    const token = await accessToken(p, SCOPE.nrps);
    const url = `${p.emulator.url}/mod/lti/services.php/CourseSection/c1/bindings/${p.registered.toolTypeId}/memberships`;
    const unpaged = (await (await agsGet(url, token, MEMBERSHIP_CONTAINER)).json()) as { members: Array<Record<string, unknown>> };
    expect(unpaged.members).toHaveLength(23);
    expect(unpaged.members[0]).toEqual({
      status: 'Active',
      roles: ['Instructor'],
      user_id: 't1',
      lis_person_sourcedid: '',
      name: 'Tess Teacher',
      given_name: 'Tess',
      family_name: 'Teacher',
      email: 'tess@example.test',
    });
    const pages = await collectPages(`${url}?limit=10`, token, MEMBERSHIP_CONTAINER);
    expect(pages.map((page) => page.length)).toEqual([10, 10, 3]);
    expect((await agsGet(url, await accessToken(p, SCOPE.lineItemReadOnly), MEMBERSHIP_CONTAINER)).status).toBe(401);
  });
});

/** An LtiDeepLinkingResponse from the tool under test, with the given content claims. */
function deepLinkingResponse<T extends Record<string, unknown>>(p: Awaited<ReturnType<typeof platformWithTool>>, content: T) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: p.registered.clientId,
    aud: p.emulator.url,
    iat: now,
    exp: now + 300,
    nonce: 'dl-nonce',
    'https://purl.imsglobal.org/spec/lti/claim/message_type': 'LtiDeepLinkingResponse',
    'https://purl.imsglobal.org/spec/lti/claim/version': '1.3.0',
    'https://purl.imsglobal.org/spec/lti/claim/deployment_id': p.registered.deploymentId,
    ...content,
  };
}

describe('deep linking', () => {
  test('moodle: the return endpoint verifies the tool JWT, records the items and creates links', async () => {
    const p = await platformWithTool('moodle');
    const claims = await launchClaims(p, { userId: 't1', courseId: 'c1', clientId: p.registered.clientId, messageType: 'LtiDeepLinkingRequest' });
    expect(claims['https://purl.imsglobal.org/spec/lti/claim/target_link_uri']).toBe(p.tool.deepLinkingUri);
    expect(claims['https://purl.imsglobal.org/spec/lti/claim/resource_link']).toBeUndefined();
    const settings = claims[DL_SETTINGS_CLAIM] as { deep_link_return_url: string; accept_types: string[] };
    expect(settings.accept_types).toEqual(['ltiResourceLink']);

    const response = deepLinkingResponse(p, {
      'https://purl.imsglobal.org/spec/lti-dl/claim/content_items': [
        { type: 'ltiResourceLink', title: 'Quiz 1', url: `${p.tool.launchUri}?quiz=1`, lineItem: { scoreMaximum: 20, label: 'Quiz 1' } },
      ],
    });
    const post = (jwt: string): Promise<Response> =>
      fetch(settings.deep_link_return_url, { method: 'POST', body: new URLSearchParams({ JWT: jwt }) });

    expect((await post(await p.tool.sign(response, 'unpublished'))).status).toBe(400);
    const accepted = await post(await p.tool.sign(response));
    expect(accepted.status).toBe(200);
    expect(p.emulator.deepLinkingResponses).toHaveLength(1);
    const [record] = p.emulator.deepLinkingResponses;
    expect(record).toMatchObject({ clientId: p.registered.clientId, courseId: 'c1', userId: 't1', contentItems: response['https://purl.imsglobal.org/spec/lti-dl/claim/content_items'] });
    expect(p.emulator.lineItems('c1')).toEqual([expect.objectContaining({ label: 'Quiz 1', scoreMaximum: 20, resourceLinkId: record!.createdResourceLinkIds[0] })]);
    expect((await post(await p.tool.sign(response))).status).toBe(400);
  });

  test('canvas: the response must echo the data of the request', async () => {
    const p = await platformWithTool('canvas');
    const claims = await launchClaims(p, { userId: 't1', courseId: 'c1', clientId: p.registered.clientId, messageType: 'LtiDeepLinkingRequest' });
    const settings = claims[DL_SETTINGS_CLAIM] as { deep_link_return_url: string; data: string; accept_multiple: boolean };
    expect(settings).toMatchObject({ accept_multiple: false, data: expect.any(String) });
    expect(claims['https://www.instructure.com/placement']).toBe('link_selection');
    const response = deepLinkingResponse(p, {
      'https://purl.imsglobal.org/spec/lti-dl/claim/content_items': [],
      'https://purl.imsglobal.org/spec/lti-dl/claim/msg': 'Nothing selected',
    });
    const post = async (claimsToSign: Record<string, unknown>): Promise<number> =>
      (await fetch(settings.deep_link_return_url, { method: 'POST', body: new URLSearchParams({ JWT: await p.tool.sign(claimsToSign) }) })).status;
    expect(await post(response)).toBe(400);
    expect(await post({ ...response, 'https://purl.imsglobal.org/spec/lti-dl/claim/data': settings.data })).toBe(200);
    expect(p.emulator.deepLinkingResponses[0]).toMatchObject({ contentItems: [], msg: 'Nothing selected', createdResourceLinkIds: [] });
  });
});

describe('home page', () => {
  test('lists courses, people and launch links', async () => {
    const p = await platformWithTool('moodle');
    const html = await (await fetch(p.emulator.url)).text();
    expect(html).toContain('Biology 101');
    expect(html).toContain('Launch as Lena Learner (Learner)');
    const href = decodeHtml(/<a href="([^"]*)">Launch as Tess Teacher/.exec(html)![1]!);
    expect(parseForm(await (await fetch(href)).text()).fields.login_hint).toBe('t1');
  });
});
