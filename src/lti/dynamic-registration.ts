import { z } from 'zod';
import type { Config } from '../config.js';
import { fetchJson, OutboundError } from './outbound-http.js';
import { PlatformAlreadyRegisteredError, type PlatformService, type PlatformSummary } from './platforms.js';
import { REQUESTED_CLAIMS, REQUESTED_SCOPES, TOOL_DESCRIPTION, toolUrls } from './tool-configuration.js';

/**
 * LTI Dynamic Registration 1.0, tool side. ltijs has its own, but it turns every failure into a
 * 500, asks for every claim the platform lists, omits the deployment id and sends host:port as
 * the domain; this one does not.
 */

const PLATFORM_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-platform-configuration';
const TOOL_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-tool-configuration';

/** Instructure's cloud issuers serve their configuration from each school's own host. */
const CANVAS_CLOUD_ISSUERS = new Set(['canvas.instructure.com', 'canvas.beta.instructure.com', 'canvas.test.instructure.com']);

export const registrationQuery = z.object({
  openid_configuration: z.string().min(1).max(2048),
  registration_token: z.string().max(4096).optional(),
});

const httpUrl = z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

const openIdConfiguration = z.object({
  issuer: httpUrl,
  authorization_endpoint: httpUrl,
  token_endpoint: httpUrl,
  jwks_uri: httpUrl,
  registration_endpoint: httpUrl,
  scopes_supported: z.array(z.string()).optional(),
  claims_supported: z.array(z.string()).optional(),
  [PLATFORM_CONFIGURATION]: z.object({
    product_family_code: z.string().optional(),
    version: z.string().optional(),
  }).passthrough().optional(),
}).passthrough();

type OpenIdConfiguration = z.infer<typeof openIdConfiguration>;

const registrationResponse = z.object({
  client_id: z.string().min(1),
  [TOOL_CONFIGURATION]: z.object({ deployment_id: z.string().min(1).optional() }).passthrough().optional(),
}).passthrough();

export type RegistrationFailure =
  | 'config_unreachable'
  | 'config_malformed'
  | 'config_host_mismatch'
  | 'address_refused'
  | 'registration_rejected'
  | 'registration_unreachable'
  | 'registration_malformed'
  | 'already_registered';

export class RegistrationError extends Error {
  constructor(
    readonly failure: RegistrationFailure,
    readonly detail: string,
  ) {
    super(`${failure}: ${detail}`);
  }
}

export interface RegistrationOutcome {
  platform: PlatformSummary;
  /** False when the platform gave no deployment id: an admin must add one before launches work. */
  hasDeployment: boolean;
}

function issuerMatchesConfigurationHost(config: OpenIdConfiguration, configurationUrl: URL): boolean {
  const issuerHost = new URL(config.issuer).host;
  if (issuerHost === configurationUrl.host) return true;
  const family = config[PLATFORM_CONFIGURATION]?.product_family_code;
  return family === 'canvas' && CANVAS_CLOUD_ISSUERS.has(issuerHost) && configurationUrl.hostname.endsWith('.instructure.com');
}

async function fetchConfiguration(rawUrl: string, registrationToken: string | undefined, allowPrivateNetworks: boolean): Promise<{ config: OpenIdConfiguration; url: URL }> {
  let body: unknown;
  let url: URL;
  try {
    url = new URL(rawUrl);
    ({ body } = await fetchJson(rawUrl, { allowPrivateNetworks, ...(registrationToken ? { headers: { authorization: `Bearer ${registrationToken}` } } : {}) }));
  } catch (err) {
    if (err instanceof OutboundError && err.failure === 'address_refused') throw new RegistrationError('address_refused', err.message);
    if (err instanceof OutboundError && err.failure === 'not_json') throw new RegistrationError('config_malformed', 'the openid_configuration URL did not answer with JSON');
    if (err instanceof OutboundError && err.failure === 'invalid_url') throw new RegistrationError('config_malformed', err.message);
    if (err instanceof TypeError) throw new RegistrationError('config_malformed', 'openid_configuration is not a URL');
    throw new RegistrationError('config_unreachable', (err as Error).message);
  }
  const parsed = openIdConfiguration.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RegistrationError('config_malformed', `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const config = parsed.data;
  if (!issuerMatchesConfigurationHost(config, url)) {
    throw new RegistrationError('config_host_mismatch', `the issuer ${config.issuer} is not on ${url.host}, where its configuration was fetched`);
  }
  if (new URL(config.registration_endpoint).host !== url.host) {
    throw new RegistrationError('config_host_mismatch', `the registration endpoint ${config.registration_endpoint} is not on ${url.host}`);
  }
  return { config, url };
}

export function buildRegistrationRequest(config: Pick<Config, 'publicUrl' | 'toolName'>, platform: OpenIdConfiguration) {
  const urls = toolUrls(config);
  const family = platform[PLATFORM_CONFIGURATION]?.product_family_code;
  const supportedClaims = platform.claims_supported;
  return {
    application_type: 'web',
    response_types: ['id_token'],
    grant_types: ['implicit', 'client_credentials'],
    initiate_login_uri: urls.login,
    redirect_uris: [urls.launch],
    client_name: config.toolName,
    'client_name#ja': config.toolName,
    jwks_uri: urls.keyset,
    logo_uri: urls.logo,
    token_endpoint_auth_method: 'private_key_jwt',
    scope: REQUESTED_SCOPES.join(' '),
    [TOOL_CONFIGURATION]: {
      domain: urls.domain,
      description: TOOL_DESCRIPTION.en,
      'description#ja': TOOL_DESCRIPTION.ja,
      target_link_uri: urls.launch,
      claims: supportedClaims ? REQUESTED_CLAIMS.filter((c) => supportedClaims.includes(c)) : REQUESTED_CLAIMS,
      messages: [
        { type: 'LtiResourceLinkRequest', target_link_uri: urls.launch, label: config.toolName, ...(family === 'canvas' ? { placements: ['course_navigation'] } : {}) },
        { type: 'LtiDeepLinkingRequest', target_link_uri: urls.launch, label: config.toolName, ...(family === 'canvas' ? { placements: ['link_selection', 'assignment_selection'] } : {}) },
      ],
      ...(family === 'canvas' ? { 'https://canvas.instructure.com/lti/privacy_level': 'public' } : {}),
    },
  };
}

function describeRejection(err: OutboundError): string {
  const body = err.body as { error?: unknown; error_description?: unknown } | string | undefined;
  if (body && typeof body === 'object') {
    const parts = [body.error, body.error_description].filter((p): p is string => typeof p === 'string');
    if (parts.length) return `HTTP ${err.status}: ${parts.join(': ').slice(0, 300)}`;
  }
  return `HTTP ${err.status}`;
}

export async function performDynamicRegistration(
  config: Pick<Config, 'publicUrl' | 'toolName' | 'dynRegAutoActivate' | 'outboundAllowPrivateNetworks'>,
  platforms: PlatformService,
  query: z.infer<typeof registrationQuery>,
): Promise<RegistrationOutcome> {
  const allowPrivateNetworks = config.outboundAllowPrivateNetworks;
  const { config: platform } = await fetchConfiguration(query.openid_configuration, query.registration_token, allowPrivateNetworks);
  let body: unknown;
  try {
    ({ body } = await fetchJson(platform.registration_endpoint, {
      allowPrivateNetworks,
      method: 'POST',
      json: buildRegistrationRequest(config, platform),
      ...(query.registration_token ? { headers: { authorization: `Bearer ${query.registration_token}` } } : {}),
    }));
  } catch (err) {
    if (err instanceof OutboundError && err.failure === 'address_refused') throw new RegistrationError('address_refused', err.message);
    if (err instanceof OutboundError && err.failure === 'http_status') throw new RegistrationError('registration_rejected', describeRejection(err));
    if (err instanceof OutboundError && err.failure === 'not_json') throw new RegistrationError('registration_malformed', 'the registration endpoint did not answer with JSON');
    throw new RegistrationError('registration_unreachable', (err as Error).message);
  }
  const parsed = registrationResponse.safeParse(body);
  if (!parsed.success) throw new RegistrationError('registration_malformed', 'the platform answered without a client_id');
  const deploymentId = parsed.data[TOOL_CONFIGURATION]?.deployment_id;
  const family = platform[PLATFORM_CONFIGURATION]?.product_family_code;
  try {
    const summary = await platforms.register({
      issuer: platform.issuer,
      clientId: parsed.data.client_id,
      name: `${family ?? 'LTI platform'} ${new URL(platform.issuer).host}`,
      authLoginUrl: platform.authorization_endpoint,
      tokenUrl: platform.token_endpoint,
      keysetUrl: platform.jwks_uri,
      deploymentIds: deploymentId ? [deploymentId] : [],
      productFamily: family,
      source: 'dynamic_registration',
      active: config.dynRegAutoActivate,
    }, 'dynamic-registration');
    return { platform: summary, hasDeployment: deploymentId !== undefined };
  } catch (err) {
    if (err instanceof PlatformAlreadyRegisteredError) throw new RegistrationError('already_registered', err.message);
    throw err;
  }
}
