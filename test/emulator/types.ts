/** Public data shapes of the LMS emulator. */

export type LmsFlavor = 'moodle' | 'canvas';

export type EnrolmentRole = 'Instructor' | 'Learner' | 'TeachingAssistant' | 'Administrator' | 'ContentDeveloper';

export type LtiMessageType = 'LtiResourceLinkRequest' | 'LtiDeepLinkingRequest';

export interface EmulatorOptions {
  flavor?: LmsFlavor;
  /** 0 (default) picks an ephemeral port. */
  port?: number;
  /** Lifetime of access tokens issued by the token endpoint; default 3600. */
  accessTokenTtlSeconds?: number;
  /**
   * Page size for AGS line items/results and NRPS members when the request carries no `limit`.
   * Default: 10 for Canvas; unset for Moodle, which returns everything unless `limit` is given.
   */
  defaultPageSize?: number;
  /**
   * Moodle flavor only: reproduce Moodle's AGS paging Link header as Moodle sends it
   * (curly-quoted rel values, `&amp;` between query parameters, off-by-one `last`). Default true.
   */
  moodlePagingQuirks?: boolean;
}

export interface Endpoints {
  issuer: string;
  authorization: string;
  token: string;
  jwks: string;
  openidConfiguration: string;
  registration: string;
}

export interface Course {
  id: string;
  title: string;
  label: string;
}

export interface User {
  id: string;
  name: string;
  givenName: string;
  familyName: string;
  email?: string;
  locale?: string;
}

export interface ResourceLink {
  id: string;
  courseId: string;
  title: string;
  toolClientId: string;
  customParameters: Record<string, string>;
  /** Launch URL of this link when it differs from the tool's target_link_uri (set by deep linking). */
  targetLinkUri?: string;
}

export interface LineItem {
  /** Absolute line item URL, as a tool sees it. */
  id: string;
  label: string;
  scoreMaximum: number;
  resourceLinkId?: string;
  resourceId?: string;
  tag?: string;
  startDateTime?: string;
  endDateTime?: string;
}

export interface LineItemInput {
  label: string;
  scoreMaximum: number;
  resourceLinkId?: string;
  resourceId?: string;
  tag?: string;
  startDateTime?: string;
  endDateTime?: string;
  /** Tool that owns the line item; defaults to the resource link's tool. Unowned items are visible to every tool. */
  toolClientId?: string;
}

export interface ScoreInput {
  scoreGiven: number | null;
  scoreMaximum?: number;
  activityProgress?: string;
  gradingProgress?: string;
  timestamp?: string;
  comment?: string;
}

/** A score as stored by the platform (posted by a tool or set with setScore). */
export interface StoredScore {
  userId: string;
  scoreGiven: number | null;
  scoreMaximum: number;
  activityProgress: string;
  gradingProgress: string;
  timestamp: string;
  comment?: string;
  /** Canvas `https://canvas.instructure.com/lti/submission` extension, when the tool sent one. */
  submission?: Record<string, unknown>;
}

export type ToolStatus = 'active' | 'pending';

export interface RegisteredTool {
  clientId: string;
  deploymentId: string;
  /** Moodle: the lti_types id used in service URLs (type_id, bindings). Canvas: the deployment's numeric id. */
  toolTypeId: string;
  name: string;
  initiateLoginUri: string;
  redirectUris: string[];
  targetLinkUri: string;
  jwksUri: string;
  /** Granted scopes. */
  scopes: string[];
  deepLinkingUri?: string;
  status: ToolStatus;
  registeredVia: 'manual' | 'dynamic';
  domain?: string;
  messages?: unknown[];
  customParameters: Record<string, string>;
  /** Claims the tool asked for at dynamic registration; name and email claims are only sent if asked for. */
  claims?: string[];
  /** Body of the dynamic registration request, as received. */
  registrationRequest?: Record<string, unknown>;
}

export interface ToolRegistrationInput {
  clientId?: string;
  deploymentId?: string;
  name: string;
  initiateLoginUri: string;
  redirectUris: string[];
  targetLinkUri: string;
  jwksUri: string;
  scopes: string[];
  deepLinkingUri?: string;
  customParameters?: Record<string, string>;
}

export interface LaunchParams {
  userId: string;
  courseId: string;
  resourceLinkId?: string;
  clientId: string;
  deploymentId?: string;
  messageType?: LtiMessageType;
  locale?: string;
  targetLinkUri?: string;
  presentation?: 'window' | 'iframe';
  /** An iframe launch offers platform storage (lti_storage_target) unless this is false. */
  platformStorage?: boolean;
}

export interface LaunchClaimParams {
  userId: string;
  courseId: string;
  resourceLinkId?: string;
  clientId: string;
  deploymentId?: string;
  nonce: string;
  messageType?: LtiMessageType;
  locale?: string;
  targetLinkUri: string;
  presentation?: 'window' | 'iframe';
}

export interface LoginInitiation {
  url: string;
  form: Record<string, string>;
}

export interface SignOptions {
  /** 'foreign' signs with a key that is not in the platform JWKS but carries the same kid. */
  key?: 'platform' | 'foreign';
  kid?: string;
  /** RS256 (default), RS384, RS512, PS256, PS384, PS512, or 'none' for an unsecured JWT. */
  alg?: string;
}

export type Fault = {
  /**
   * expired-token: a valid-looking bearer token is answered 401 with WWW-Authenticate error="invalid_token".
   * rate-limit: 429 with Retry-After. server-error: 500. slow: delayMs delay, then the normal answer.
   */
  kind: 'expired-token' | 'rate-limit' | 'server-error' | 'slow';
  /** Only requests whose path (or absolute URL) starts with this; default: every service endpoint (token, AGS, NRPS). */
  pathPrefix?: string;
  /** How many requests are affected; default Infinity. */
  times?: number;
  retryAfterSeconds?: number;
  delayMs?: number;
};

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  at: number;
  /** Token endpoint: the requested scope. AGS/NRPS: the scopes of the presented access token. */
  scope?: string;
}

export interface IssuedAccessToken {
  clientId: string;
  scopes: string[];
  expiresAt: number;
}

export interface DeepLinkingResponseRecord {
  clientId: string;
  deploymentId: string;
  courseId: string;
  userId: string;
  contentItems: Record<string, unknown>[];
  msg?: string;
  errormsg?: string;
  /** Resource links the platform created from ltiResourceLink items. */
  createdResourceLinkIds: string[];
  receivedAt: number;
}
