import { randomBytes } from 'node:crypto';
import type { EnrolmentRole, LmsFlavor, RegisteredTool } from './types.js';
import { ROLE } from './vocabulary.js';

/** Everything that differs between the Moodle and the Canvas flavor: URL layout, identifiers, roles, versions. */
export interface FlavorProfile {
  readonly flavor: LmsFlavor;
  readonly paths: {
    readonly openidConfiguration: string;
    readonly registration: string;
    readonly authorization: string;
    readonly token: string;
    readonly jwks: string;
  };
  /** Express route patterns of the browser-facing pages. */
  readonly routes: {
    readonly launchPage: string;
    readonly framePage: string;
    readonly deepLinkReturn: string;
    readonly launchReturn: string;
  };
  /** `version` in the openid configuration. */
  readonly configurationVersion: string;
  /** `version` in the tool_platform claim. */
  readonly platformVersion: string;
  readonly nrpsServiceVersions: readonly string[];
  /** Content-Type of every token endpoint answer. */
  readonly tokenContentType: string;
  /**
   * `lti_storage_target` of an iframe launch: the frame that answers LTI client-side postMessages
   * (lti.put_data / lti.get_data). Canvas names a hidden frame; Moodle's page answers as `_parent`.
   */
  readonly storageTarget: string;
  launchPageUrl(base: string, courseId: string): URL;
  framePageUrl(base: string, courseId: string): URL;
  lineItemsUrl(base: string, courseId: string, tool: RegisteredTool | undefined): string;
  lineItemUrl(base: string, courseId: string, itemNumber: number, tool: RegisteredTool | undefined): string;
  resultsUrl(base: string, courseId: string, itemNumber: number, tool: RegisteredTool): string;
  scoresUrl(base: string, courseId: string, itemNumber: number, tool: RegisteredTool): string;
  membershipsUrl(base: string, courseId: string, tool: RegisteredTool): string;
  deepLinkReturnUrl(base: string, courseId: string, tool: RegisteredTool, ref: string): string;
  launchReturnUrl(base: string, courseId: string, resourceLinkId: string | undefined, presentation: 'window' | 'iframe'): string;
  /** True for token, AGS and NRPS paths: the ones faults apply to. */
  isServicePath(path: string): boolean;
  /** Roles claim of a launch. */
  launchRoles(roles: readonly EnrolmentRole[]): string[];
  /** `roles` of an NRPS member. */
  memberRoles(roles: readonly EnrolmentRole[]): string[];
  newClientId(sequence: number): string;
  newDeploymentId(sequence: number, accountContextId: string): string;
}

const enc = encodeURIComponent;

function withParams(base: string, path: string, params: Record<string, string>): string {
  const url = new URL(path, base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

function requireTool(tool: RegisteredTool | undefined): RegisteredTool {
  if (!tool) throw new Error('a Moodle service URL needs the tool whose type_id it carries');
  return tool;
}

/** Moodle only knows "teacher" (can manage activities) and "student"; site admins get two extra roles. */
function moodleIsTeacher(roles: readonly EnrolmentRole[]): boolean {
  return roles.some((r) => r === 'Instructor' || r === 'ContentDeveloper' || r === 'Administrator');
}

const moodle: FlavorProfile = {
  flavor: 'moodle',
  paths: {
    openidConfiguration: '/mod/lti/openid-configuration.php',
    registration: '/mod/lti/openid-registration.php',
    authorization: '/mod/lti/auth.php',
    token: '/mod/lti/token.php',
    jwks: '/mod/lti/certs.php',
  },
  routes: {
    launchPage: '/mod/lti/launch.php',
    framePage: '/mod/lti/view.php',
    deepLinkReturn: '/mod/lti/contentitem_return.php',
    launchReturn: '/mod/lti/return.php',
  },
  configurationVersion: '5.0 (Build: 20250414)',
  platformVersion: '2025041400',
  nrpsServiceVersions: ['1.0', '2.0'],
  // mod/lti/token.php echoes JSON without setting a Content-Type, so PHP's default applies.
  tokenContentType: 'text/html; charset=UTF-8',
  storageTarget: '_parent',
  launchPageUrl: (base) => new URL('/mod/lti/launch.php', base),
  framePageUrl: (base) => new URL('/mod/lti/view.php', base),
  lineItemsUrl: (base, courseId, tool) =>
    withParams(base, `/mod/lti/services.php/${enc(courseId)}/lineitems`, { type_id: requireTool(tool).toolTypeId }),
  lineItemUrl: (base, courseId, n, tool) =>
    withParams(base, `/mod/lti/services.php/${enc(courseId)}/lineitems/${n}/lineitem`, tool ? { type_id: tool.toolTypeId } : {}),
  resultsUrl: (base, courseId, n, tool) =>
    withParams(base, `/mod/lti/services.php/${enc(courseId)}/lineitems/${n}/lineitem/results`, { type_id: tool.toolTypeId }),
  scoresUrl: (base, courseId, n, tool) =>
    withParams(base, `/mod/lti/services.php/${enc(courseId)}/lineitems/${n}/lineitem/scores`, { type_id: tool.toolTypeId }),
  membershipsUrl: (base, courseId, tool) =>
    new URL(`/mod/lti/services.php/CourseSection/${enc(courseId)}/bindings/${enc(tool.toolTypeId)}/memberships`, base).toString(),
  deepLinkReturnUrl: (base, courseId, tool, ref) =>
    withParams(base, '/mod/lti/contentitem_return.php', { course: courseId, id: tool.toolTypeId, sesskey: ref }),
  launchReturnUrl: (base, courseId, resourceLinkId, presentation) =>
    withParams(base, '/mod/lti/return.php', {
      course: courseId,
      // Moodle's launch container codes: 3 = embed without blocks, 4 = new window.
      launch_container: presentation === 'window' ? '4' : '3',
      ...(resourceLinkId ? { instanceid: resourceLinkId } : {}),
      sesskey: randomBytes(5).toString('hex'),
    }),
  isServicePath: (path) => path === '/mod/lti/token.php' || path.startsWith('/mod/lti/services.php/'),
  launchRoles(roles) {
    const result: string[] = [moodleIsTeacher(roles) ? ROLE.membershipInstructor : ROLE.membershipLearner];
    if (roles.includes('Administrator')) result.push(ROLE.systemAdministrator, ROLE.institutionAdministrator);
    return result.sort();
  },
  memberRoles(roles) {
    // Moodle's NRPS sends the short context role names, not URIs.
    const result = [moodleIsTeacher(roles) ? 'Instructor' : 'Learner'];
    if (roles.includes('Administrator')) result.push(ROLE.personAdministrator);
    return result;
  },
  newClientId: () => randomAlphanumeric(15),
  newDeploymentId: (sequence) => String(sequence),
};

function canvasMembershipRoles(roles: readonly EnrolmentRole[]): string[] {
  const result = new Set<string>();
  for (const role of roles) {
    if (role === 'Instructor') result.add(ROLE.membershipInstructor);
    if (role === 'Learner') result.add(ROLE.membershipLearner);
    if (role === 'ContentDeveloper') result.add(ROLE.membershipContentDeveloper);
    if (role === 'TeachingAssistant') {
      result.add(ROLE.canvasTeachingAssistant);
      result.add(ROLE.membershipInstructor);
    }
  }
  return [...result];
}

const canvas: FlavorProfile = {
  flavor: 'canvas',
  paths: {
    openidConfiguration: '/api/lti/security/openid-configuration',
    registration: '/api/lti/registrations',
    authorization: '/api/lti/authorize_redirect',
    token: '/login/oauth2/token',
    jwks: '/api/lti/security/jwks',
  },
  routes: {
    launchPage: '/courses/:courseId/external_tools/retrieve',
    framePage: '/courses/:courseId/external_tools/view',
    deepLinkReturn: '/courses/:courseId/deep_linking_response',
    launchReturn: '/courses/:courseId/external_content/success/external_tool_redirect',
  },
  configurationVersion: 'cloud',
  platformVersion: 'cloud',
  nrpsServiceVersions: ['2.0'],
  tokenContentType: 'application/json; charset=utf-8',
  storageTarget: 'post_message_forwarding',
  launchPageUrl: (base, courseId) => new URL(`/courses/${enc(courseId)}/external_tools/retrieve`, base),
  framePageUrl: (base, courseId) => new URL(`/courses/${enc(courseId)}/external_tools/view`, base),
  lineItemsUrl: (base, courseId) => new URL(`/api/lti/courses/${enc(courseId)}/line_items`, base).toString(),
  lineItemUrl: (base, courseId, n) => new URL(`/api/lti/courses/${enc(courseId)}/line_items/${n}`, base).toString(),
  resultsUrl: (base, courseId, n) => new URL(`/api/lti/courses/${enc(courseId)}/line_items/${n}/results`, base).toString(),
  scoresUrl: (base, courseId, n) => new URL(`/api/lti/courses/${enc(courseId)}/line_items/${n}/scores`, base).toString(),
  membershipsUrl: (base, courseId) => new URL(`/api/lti/courses/${enc(courseId)}/names_and_roles`, base).toString(),
  deepLinkReturnUrl: (base, courseId) => withParams(base, `/courses/${enc(courseId)}/deep_linking_response`, { modal: 'true' }),
  launchReturnUrl: (base, courseId) =>
    new URL(`/courses/${enc(courseId)}/external_content/success/external_tool_redirect`, base).toString(),
  isServicePath: (path) => path === '/login/oauth2/token' || path.startsWith('/api/lti/courses/'),
  launchRoles(roles) {
    const result = new Set<string>(canvasMembershipRoles(roles));
    if (roles.includes('Administrator')) result.add(ROLE.institutionAdministrator);
    if (roles.some((r) => r === 'Instructor' || r === 'TeachingAssistant' || r === 'ContentDeveloper')) {
      result.add(ROLE.institutionInstructor);
    }
    if (roles.includes('Learner')) result.add(ROLE.institutionStudent);
    result.add(ROLE.systemUser);
    return [...result];
  },
  memberRoles: canvasMembershipRoles,
  // Canvas developer key ids are global ids: shard 1 × 10^13 + local id.
  newClientId: (sequence) => String(10_000_000_000_000 + sequence),
  newDeploymentId: (sequence, accountContextId) => `${sequence}:${accountContextId}`,
};

export function flavorProfile(flavor: LmsFlavor): FlavorProfile {
  return flavor === 'canvas' ? canvas : moodle;
}

/** Moodle's course "gradebook roles" default to student only; Canvas grades StudentEnrollments. */
export function isGradable(roles: readonly EnrolmentRole[]): boolean {
  return roles.includes('Learner');
}

function randomAlphanumeric(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}
