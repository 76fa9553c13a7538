import { randomBytes } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import { substitutionVariableNames } from './claims.js';
import { absolute, type PlatformContext } from './context.js';
import { isHttpUrl, isRecord, param } from './http-util.js';
import type { RegisteredTool, ToolRegistrationInput } from './types.js';
import { AGS_SCOPES, PLATFORM_CONFIGURATION, SCOPE, SERVICE_SCOPES, TOOL_CONFIGURATION } from './vocabulary.js';

const REGISTRATION_TOKEN_LIFETIME_MS = 3_600_000;

export function endpoints(ctx: PlatformContext): {
  issuer: string;
  authorization: string;
  token: string;
  jwks: string;
  openidConfiguration: string;
  registration: string;
} {
  const { paths } = ctx.profile;
  return {
    issuer: ctx.base(),
    authorization: absolute(ctx, paths.authorization),
    token: absolute(ctx, paths.token),
    jwks: absolute(ctx, paths.jwks),
    openidConfiguration: absolute(ctx, paths.openidConfiguration),
    registration: absolute(ctx, paths.registration),
  };
}

/** LTI Dynamic Registration 1.0 §3.4 platform configuration, shaped like the flavor's own. */
export function openidConfiguration(ctx: PlatformContext): Record<string, unknown> {
  const e = endpoints(ctx);
  const isCanvas = ctx.profile.flavor === 'canvas';
  const platformConfiguration: Record<string, unknown> = {
    product_family_code: ctx.profile.flavor,
    version: ctx.profile.configurationVersion,
    messages_supported: isCanvas
      ? [
          { type: 'LtiResourceLinkRequest', placements: ['course_navigation'] },
          { type: 'LtiDeepLinkingRequest', placements: ['link_selection', 'assignment_selection'] },
        ]
      : [{ type: 'LtiResourceLinkRequest' }, { type: 'LtiDeepLinkingRequest' }],
    variables: substitutionVariableNames(ctx.profile.flavor),
  };
  if (isCanvas) {
    platformConfiguration['https://canvas.instructure.com/lti/account_name'] = ctx.platformName;
    platformConfiguration['https://canvas.instructure.com/lti/account_lti_guid'] = ctx.platformGuid();
  }
  return {
    issuer: e.issuer,
    authorization_endpoint: e.authorization,
    token_endpoint: e.token,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    jwks_uri: e.jwks,
    registration_endpoint: e.registration,
    scopes_supported: [...SERVICE_SCOPES, 'openid'],
    response_types_supported: ['id_token'],
    subject_types_supported: isCanvas ? ['public'] : ['public', 'pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    claims_supported: isCanvas
      ? ['sub', 'picture', 'email', 'name', 'given_name', 'family_name', 'locale']
      : ['sub', 'iss', 'name', 'given_name', 'family_name', 'email'],
    [PLATFORM_CONFIGURATION]: platformConfiguration,
  };
}

/** The URL the LMS opens (in an iframe/popup) to start dynamic registration, with a fresh single-use token. */
export function dynamicRegistrationUrl(ctx: PlatformContext, toolRegisterUrl: string): string {
  const token = randomBytes(32).toString('base64url');
  ctx.store.registrationTokens.set(token, {
    clientId: ctx.profile.newClientId(ctx.store.next('clientKey')),
    expiresAt: Date.now() + REGISTRATION_TOKEN_LIFETIME_MS,
    used: false,
  });
  const configuration = new URL(endpoints(ctx).openidConfiguration);
  // Canvas puts the token in the configuration URL too; Moodle's configuration URL is public.
  if (ctx.profile.flavor === 'canvas') configuration.searchParams.set('registration_token', token);
  const url = new URL(toolRegisterUrl);
  url.searchParams.set('openid_configuration', configuration.toString());
  url.searchParams.set('registration_token', token);
  return url.toString();
}

function bearer(req: Request): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
  return match?.[1];
}

function registrationTokenProblem(ctx: PlatformContext, token: string): string | undefined {
  const record = ctx.store.registrationTokens.get(token);
  if (!record) return 'unknown or expired registration token';
  if (record.used) return 'registration token already used';
  return undefined;
}

/** The configuration is public, but a registration token that comes with it must be one the platform issued. */
function serveConfiguration(ctx: PlatformContext, req: Request, res: Response): void {
  const token = param(req.query, 'registration_token') ?? bearer(req);
  if (token !== undefined && !ctx.store.registrationTokens.get(token)) {
    res.status(401).json({ error: 'invalid_token', error_description: 'unknown or expired registration token' });
    return;
  }
  res.type('application/json').send(JSON.stringify(openidConfiguration(ctx)));
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** Strips a leading "www." as Moodle does when comparing the tool domain with target_link_uri. */
function bareHost(host: string): string {
  return host.toLowerCase().replace(/^www\./, '');
}

/** LTI DR 1.0 §3.5 checks, plus Moodle's domain/target_link_uri check in the Moodle flavor. */
function registrationProblem(ctx: PlatformContext, body: Record<string, unknown>): string | undefined {
  if (body.application_type !== 'web') return 'application_type must be "web"';
  if (!isStringArray(body.response_types) || !body.response_types.includes('id_token')) return 'response_types must include id_token';
  if (!isStringArray(body.grant_types) || !body.grant_types.includes('implicit') || !body.grant_types.includes('client_credentials')) {
    return 'grant_types must include implicit and client_credentials';
  }
  if (!isHttpUrl(body.initiate_login_uri)) return 'initiate_login_uri must be an http(s) URL';
  if (!isStringArray(body.redirect_uris) || body.redirect_uris.length === 0 || !body.redirect_uris.every(isHttpUrl)) {
    return 'redirect_uris must be a non-empty array of http(s) URLs';
  }
  if (typeof body.client_name !== 'string' || body.client_name.trim() === '') return 'client_name is required';
  if (!isHttpUrl(body.jwks_uri)) return 'jwks_uri must be an http(s) URL';
  if (body.token_endpoint_auth_method !== 'private_key_jwt') return 'token_endpoint_auth_method must be private_key_jwt';
  if (body.scope !== undefined && typeof body.scope !== 'string') return 'scope must be a space-separated string';
  const configuration = body[TOOL_CONFIGURATION];
  if (!isRecord(configuration)) return `${TOOL_CONFIGURATION} is required`;
  if (typeof configuration.domain !== 'string' || configuration.domain === '') return 'domain is required';
  if (!isHttpUrl(configuration.target_link_uri)) return 'target_link_uri must be an http(s) URL';
  if (configuration.claims !== undefined && !isStringArray(configuration.claims)) return 'claims must be an array of strings';
  const messages = configuration.messages;
  if (messages !== undefined && !(Array.isArray(messages) && messages.every((m) => isRecord(m) && typeof m.type === 'string'))) {
    return 'messages must be an array of objects with a type';
  }
  if (configuration.custom_parameters !== undefined) {
    const custom = configuration.custom_parameters;
    if (!isRecord(custom) || !Object.values(custom).every((v) => typeof v === 'string')) return 'custom_parameters must map names to strings';
  }
  if (ctx.profile.flavor === 'moodle' && bareHost(configuration.domain) !== bareHost(new URL(configuration.target_link_uri).host)) {
    return 'domain_targetlinkuri_mismatch';
  }
  return undefined;
}

/** Moodle turns any requested AGS scope into "grade synchronisation" and grants the read scopes with it. */
function grantedScopes(ctx: PlatformContext, requested: string[]): string[] {
  const supported = requested.filter((s) => SERVICE_SCOPES.includes(s));
  if (ctx.profile.flavor === 'canvas') return [...new Set(supported)];
  const granted: string[] = [];
  if (supported.some((s) => AGS_SCOPES.includes(s))) granted.push(SCOPE.score, SCOPE.resultReadOnly, SCOPE.lineItemReadOnly);
  if (supported.includes(SCOPE.lineItem)) granted.push(SCOPE.lineItem);
  if (supported.includes(SCOPE.membershipReadOnly)) granted.push(SCOPE.membershipReadOnly);
  return granted;
}

function toolIdentity(ctx: PlatformContext, sequence: number): { toolTypeId: string; deploymentId: string } {
  return { toolTypeId: String(sequence), deploymentId: ctx.profile.newDeploymentId(sequence, ctx.accountContextId) };
}

function register(ctx: PlatformContext, req: Request, res: Response): void {
  const token = bearer(req);
  const problem = token === undefined ? 'missing registration token' : registrationTokenProblem(ctx, token);
  if (problem || token === undefined) {
    res.status(401).json({ error: 'invalid_token', error_description: problem });
    return;
  }
  const body: unknown = req.body;
  if (!isRecord(body)) {
    res.status(400).json({ error: 'invalid_client_metadata', error_description: 'the body must be a JSON object' });
    return;
  }
  const invalid = registrationProblem(ctx, body);
  if (invalid) {
    res.status(400).json({ error: 'invalid_client_metadata', error_description: invalid });
    return;
  }
  const record = ctx.store.registrationTokens.get(token)!;
  record.used = true;
  const configuration = body[TOOL_CONFIGURATION] as Record<string, unknown>;
  const messages = (configuration.messages as Record<string, unknown>[] | undefined) ?? [];
  const deepLinking = messages.find((m) => m.type === 'LtiDeepLinkingRequest');
  const scopes = grantedScopes(ctx, typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : []);
  const sequence = ctx.store.next('toolType');
  const tool: RegisteredTool = {
    clientId: record.clientId,
    ...toolIdentity(ctx, sequence),
    name: body.client_name as string,
    initiateLoginUri: body.initiate_login_uri as string,
    redirectUris: [...(body.redirect_uris as string[])],
    targetLinkUri: configuration.target_link_uri as string,
    jwksUri: body.jwks_uri as string,
    scopes,
    ...(isHttpUrl(deepLinking?.target_link_uri) ? { deepLinkingUri: deepLinking.target_link_uri } : {}),
    // Moodle parks dynamically registered tools until an admin activates them; Canvas enables the key at once.
    status: ctx.profile.flavor === 'moodle' ? 'pending' : 'active',
    registeredVia: 'dynamic',
    domain: configuration.domain as string,
    messages: structuredClone(messages),
    customParameters: { ...((configuration.custom_parameters as Record<string, string> | undefined) ?? {}) },
    claims: [...((configuration.claims as string[] | undefined) ?? [])],
    registrationRequest: structuredClone(body),
  };
  ctx.store.tools.set(tool.clientId, tool);
  res.json({
    ...body,
    client_id: tool.clientId,
    scope: scopes.join(' '),
    [TOOL_CONFIGURATION]: {
      ...configuration,
      deployment_id: tool.deploymentId,
      ...(ctx.profile.flavor === 'moodle' ? { version: '1.3.0' } : {}),
    },
  });
}

/** Manual ("configure a tool manually") registration: the tool is active at once. */
export function registerTool(ctx: PlatformContext, input: ToolRegistrationInput): RegisteredTool {
  const unsupported = input.scopes.filter((s) => !SERVICE_SCOPES.includes(s));
  if (unsupported.length > 0) throw new Error(`unsupported scopes: ${unsupported.join(' ')}`);
  const clientId = input.clientId ?? ctx.profile.newClientId(ctx.store.next('clientKey'));
  if (ctx.store.tools.has(clientId)) throw new Error(`a tool with client id ${clientId} is already registered`);
  const identity = toolIdentity(ctx, ctx.store.next('toolType'));
  const tool: RegisteredTool = {
    clientId,
    toolTypeId: identity.toolTypeId,
    deploymentId: input.deploymentId ?? identity.deploymentId,
    name: input.name,
    initiateLoginUri: input.initiateLoginUri,
    redirectUris: [...input.redirectUris],
    targetLinkUri: input.targetLinkUri,
    jwksUri: input.jwksUri,
    scopes: [...new Set(input.scopes)],
    ...(input.deepLinkingUri ? { deepLinkingUri: input.deepLinkingUri } : {}),
    status: 'active',
    registeredVia: 'manual',
    customParameters: { ...(input.customParameters ?? {}) },
  };
  ctx.store.tools.set(clientId, tool);
  return structuredClone(tool);
}

export function mountRegistrationRoutes(app: Express, ctx: PlatformContext): void {
  app.get(ctx.profile.paths.openidConfiguration, (req, res) => serveConfiguration(ctx, req, res));
  app.post(ctx.profile.paths.registration, (req, res) => register(ctx, req, res));
}
