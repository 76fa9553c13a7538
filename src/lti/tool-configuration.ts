import type { Config } from '../config.js';

/** The tool's own LTI routes; registration documents advertise them and the launch checks against them. */
export const LTI_ROUTES = {
  login: '/lti/login',
  launch: '/lti/launch',
  keyset: '/lti/keys',
  dynamicRegistration: '/register',
  canvasConfiguration: '/lti/canvas.json',
} as const;

export const SCOPES = {
  lineItem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineItemReadOnly: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  resultReadOnly: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
  membershipReadOnly: 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
} as const;

/** AGS to read the gradebook and write back awards; NRPS for the roster. */
export const REQUESTED_SCOPES: string[] = Object.values(SCOPES);

/**
 * The identity claims the tool uses: names for certificates, email for the credential's hashed
 * identifier, locale for the language. Nothing else is asked for (data minimisation).
 */
export const REQUESTED_CLAIMS = ['iss', 'sub', 'name', 'given_name', 'family_name', 'email', 'locale'];

export interface ToolUrls {
  login: string;
  launch: string;
  keyset: string;
  logo: string;
  /** Host as platforms match it: the bare host name on a default port, host:port otherwise. */
  domain: string;
}

export function toolUrls(config: Pick<Config, 'publicUrl'>): ToolUrls {
  return {
    login: config.publicUrl + LTI_ROUTES.login,
    launch: config.publicUrl + LTI_ROUTES.launch,
    keyset: config.publicUrl + LTI_ROUTES.keyset,
    logo: config.publicUrl + '/static/logo.svg',
    domain: new URL(config.publicUrl).host,
  };
}

export const TOOL_DESCRIPTION = {
  en: 'Turns course results into verifiable Open Badges 3.0 micro-credentials.',
  ja: 'コースの成績を検証可能な Open Badges 3.0 マイクロクレデンシャルにします。',
};

/** The JSON a Canvas admin pastes (or points to by URL) when creating an LTI 1.3 developer key. */
export function canvasDeveloperKeyConfiguration(config: Pick<Config, 'publicUrl' | 'toolName'>) {
  const urls = toolUrls(config);
  const placement = (placement: string, messageType: string, extra: Record<string, unknown> = {}) => ({
    placement,
    message_type: messageType,
    target_link_uri: urls.launch,
    text: config.toolName,
    icon_url: urls.logo,
    ...extra,
  });
  return {
    title: config.toolName,
    description: TOOL_DESCRIPTION.en,
    oidc_initiation_url: urls.login,
    target_link_uri: urls.launch,
    public_jwk_url: urls.keyset,
    scopes: REQUESTED_SCOPES,
    extensions: [
      {
        platform: 'canvas.instructure.com',
        domain: urls.domain,
        tool_id: 'microcred-lti',
        // "public" shares name and email, which the credentials carry; nothing more is requested.
        privacy_level: 'public',
        settings: {
          text: config.toolName,
          icon_url: urls.logo,
          placements: [
            placement('course_navigation', 'LtiResourceLinkRequest', { default: 'enabled', visibility: 'public' }),
            placement('link_selection', 'LtiDeepLinkingRequest'),
            placement('assignment_selection', 'LtiDeepLinkingRequest'),
          ],
        },
      },
    ],
    custom_fields: {},
  };
}
