import { createHash, randomBytes, randomInt } from 'node:crypto';
import { absolute, type PlatformContext } from './context.js';
import type { Course, LaunchClaimParams, LmsFlavor, LtiMessageType, RegisteredTool, ResourceLink, User } from './types.js';
import { AGS_SCOPES, CLAIM, COURSE_OFFERING, SCOPE } from './vocabulary.js';

const ID_TOKEN_LIFETIME_SECONDS = 600;
const DEEP_LINK_LIFETIME_MS = 3_600_000;

export interface ResolvedLaunch {
  user: User;
  course: Course;
  tool: RegisteredTool;
  link: ResourceLink | undefined;
  messageType: LtiMessageType;
  deploymentId: string;
}

/** Checks that a launch is possible and finds what it refers to; throws with a readable message otherwise. */
export function resolveLaunch(
  ctx: PlatformContext,
  p: { userId: string; courseId: string; clientId: string; resourceLinkId?: string; deploymentId?: string; messageType?: LtiMessageType },
): ResolvedLaunch {
  const { store } = ctx;
  const user = store.user(p.userId);
  const course = store.course(p.courseId);
  const tool = store.tool(p.clientId);
  if (store.rolesOf(course.id, user.id).length === 0) throw new Error(`user ${user.id} is not enrolled in course ${course.id}`);
  const messageType = p.messageType ?? 'LtiResourceLinkRequest';
  let link: ResourceLink | undefined;
  if (messageType === 'LtiResourceLinkRequest') {
    link = p.resourceLinkId
      ? store.resourceLink(course.id, p.resourceLinkId)
      : store.linksOf(course.id).find((l) => l.toolClientId === tool.clientId);
    if (!link) throw new Error(`no resource link ${p.resourceLinkId ?? `of tool ${tool.clientId}`} in course ${course.id}`);
    if (link.toolClientId !== tool.clientId) throw new Error(`resource link ${link.id} belongs to another tool`);
  }
  return { user, course, tool, link, messageType, deploymentId: p.deploymentId ?? tool.deploymentId };
}

export function defaultTargetLinkUri(launch: ResolvedLaunch): string {
  if (launch.messageType === 'LtiDeepLinkingRequest') return launch.tool.deepLinkingUri ?? launch.tool.targetLinkUri;
  return launch.link?.targetLinkUri ?? launch.tool.targetLinkUri;
}

/** Manually configured tools get names and email; dynamically registered ones only the claims they asked for (Moodle's rule). */
export function toolPrivacy(tool: RegisteredTool): { sendNames: boolean; sendEmail: boolean } {
  const claims = tool.claims;
  return {
    sendNames: !claims || ['name', 'given_name', 'family_name'].some((c) => claims.includes(c)),
    sendEmail: !claims || claims.includes('email'),
  };
}

function hex(algorithm: 'sha1' | 'sha256', text: string): string {
  return createHash(algorithm).update(text).digest('hex');
}

/** Canvas's LTI 1.1 user id is an opaque hash; the emulator derives it from the user id. */
export function canvasLegacyUserId(userId: string): string {
  return hex('sha1', `lti11:${userId}`);
}

type VariableResolver = (ctx: PlatformContext, launch: ResolvedLaunch) => string | undefined;

const COMMON_VARIABLES: Record<string, VariableResolver> = {
  'User.id': (_, l) => l.user.id,
  'Person.name.full': (_, l) => l.user.name,
  'Person.name.given': (_, l) => l.user.givenName,
  'Person.name.family': (_, l) => l.user.familyName,
  'Person.email.primary': (_, l) => l.user.email ?? '',
  'Context.id': (_, l) => l.course.id,
  'Context.title': (_, l) => l.course.title,
  'Context.label': (_, l) => l.course.label,
  'CourseSection.title': (_, l) => l.course.title,
  'ResourceLink.id': (_, l) => l.link?.id,
  'ResourceLink.title': (_, l) => l.link?.title,
};

const FLAVOR_VARIABLES: Record<LmsFlavor, Record<string, VariableResolver>> = {
  moodle: { ...COMMON_VARIABLES, 'User.username': (_, l) => l.user.id },
  canvas: {
    ...COMMON_VARIABLES,
    'Canvas.course.id': (_, l) => l.course.id,
    'Canvas.user.id': (_, l) => l.user.id,
    'Canvas.user.loginId': (_, l) => l.user.email ?? l.user.id,
    'Canvas.api.domain': (ctx) => new URL(ctx.base()).host,
  },
};

/** Custom parameter substitution variables the emulator resolves (advertised in the openid configuration). */
export function substitutionVariableNames(flavor: LmsFlavor): string[] {
  return Object.keys(FLAVOR_VARIABLES[flavor]);
}

/** Tool-level then link-level custom parameters; known `$Variable` values are substituted, others pass through as both LMSs do. */
function customClaim(ctx: PlatformContext, launch: ResolvedLaunch): Record<string, string> {
  const variables = FLAVOR_VARIABLES[ctx.profile.flavor];
  const merged = { ...launch.tool.customParameters, ...(launch.link?.customParameters ?? {}) };
  return Object.fromEntries(
    Object.entries(merged).map(([name, value]) => {
      const resolver = value.startsWith('$') ? variables[value.slice(1)] : undefined;
      return [name, resolver?.(ctx, launch) ?? value];
    }),
  );
}

function firstLineItemOfLink(ctx: PlatformContext, launch: ResolvedLaunch): number | undefined {
  const { link, tool, course } = launch;
  if (!link) return undefined;
  return ctx.store.lineItemsVisibleTo(course.id, tool.clientId).find((li) => li.resourceLinkId === link.id)?.number;
}

function deepLinkingSettings(ctx: PlatformContext, launch: ResolvedLaunch): Record<string, unknown> {
  const ref = randomBytes(12).toString('hex');
  ctx.store.pendingDeepLinks.set(ref, {
    clientId: launch.tool.clientId,
    deploymentId: launch.deploymentId,
    courseId: launch.course.id,
    userId: launch.user.id,
    expiresAt: Date.now() + DEEP_LINK_LIFETIME_MS,
  });
  const returnUrl = ctx.profile.deepLinkReturnUrl(ctx.base(), launch.course.id, launch.tool, ref);
  if (ctx.profile.flavor === 'moodle') {
    // Values lti_build_content_item_selection_request() uses when launched from "Select content".
    return {
      accept_types: ['ltiResourceLink'],
      accept_presentation_document_targets: ['frame', 'iframe', 'window'],
      accept_copy_advice: false,
      accept_multiple: true,
      accept_unsigned: false,
      auto_create: false,
      can_confirm: false,
      deep_link_return_url: returnUrl,
      title: '',
      text: '',
    };
  }
  return {
    deep_link_return_url: returnUrl,
    accept_types: ['ltiResourceLink'],
    accept_presentation_document_targets: ['iframe', 'window'],
    accept_media_types: 'application/vnd.ims.lti.v1.ltilink',
    accept_multiple: false,
    auto_create: true,
    data: ctx.keys().seal({ deepLink: ref }),
  };
}

/** The claim set the authorization endpoint signs into the id_token. */
export function buildLaunchClaims(ctx: PlatformContext, p: LaunchClaimParams): Record<string, unknown> {
  const launch = resolveLaunch(ctx, p);
  const { user, course, tool, link, messageType } = launch;
  const { profile } = ctx;
  const base = ctx.base();
  const now = Math.floor(Date.now() / 1000);
  const locale = p.locale ?? user.locale ?? 'en';
  const presentation = p.presentation ?? 'window';
  const { sendNames, sendEmail } = toolPrivacy(tool);
  const isCanvas = profile.flavor === 'canvas';

  const claims: Record<string, unknown> = {
    iss: base,
    aud: tool.clientId,
    azp: tool.clientId,
    sub: user.id,
    iat: now,
    exp: now + ID_TOKEN_LIFETIME_SECONDS,
    nonce: p.nonce,
  };
  if (sendNames) Object.assign(claims, { name: user.name, given_name: user.givenName, family_name: user.familyName });
  if (sendEmail && user.email) claims.email = user.email;
  if (isCanvas) claims.locale = locale;

  claims[CLAIM.messageType] = messageType;
  claims[CLAIM.version] = '1.3.0';
  claims[CLAIM.deploymentId] = launch.deploymentId;
  claims[CLAIM.targetLinkUri] = p.targetLinkUri;
  if (link) claims[CLAIM.resourceLink] = { id: link.id, title: link.title };
  claims[CLAIM.roles] = profile.launchRoles(ctx.store.rolesOf(course.id, user.id));
  claims[CLAIM.context] = isCanvas
    ? { id: course.id, label: course.label, title: course.title, type: [COURSE_OFFERING], validation_context: null, errors: { errors: {} } }
    : { id: course.id, label: course.label, title: course.title, type: [COURSE_OFFERING] };
  claims[CLAIM.toolPlatform] = isCanvas
    ? { guid: ctx.platformGuid(), name: ctx.platformName, version: profile.platformVersion, product_family_code: 'canvas' }
    : {
        product_family_code: 'moodle',
        version: profile.platformVersion,
        guid: ctx.platformGuid(),
        name: ctx.platformName,
        description: ctx.platformName,
      };
  claims[CLAIM.launchPresentation] = {
    locale,
    document_target: presentation,
    return_url: profile.launchReturnUrl(base, course.id, link?.id, presentation),
  };
  const custom = customClaim(ctx, launch);
  if (Object.keys(custom).length > 0) claims[CLAIM.custom] = custom;

  const agsScopes = tool.scopes.filter((s) => AGS_SCOPES.includes(s));
  if (agsScopes.length > 0) {
    const lineItemNumber = firstLineItemOfLink(ctx, launch);
    claims[CLAIM.agsEndpoint] = {
      scope: agsScopes,
      lineitems: profile.lineItemsUrl(base, course.id, tool),
      ...(lineItemNumber === undefined ? {} : { lineitem: profile.lineItemUrl(base, course.id, lineItemNumber, tool) }),
    };
    if (!isCanvas && link && lineItemNumber !== undefined) {
      const data = { instanceid: link.id, userid: user.id, typeid: tool.toolTypeId, launchid: randomInt(1, 2 ** 31 - 1) };
      claims[CLAIM.basicOutcome] = {
        lis_result_sourcedid: JSON.stringify({ data, hash: hex('sha256', JSON.stringify(data) + tool.clientId) }),
        lis_outcome_service_url: absolute(ctx, '/mod/lti/service.php'),
      };
    }
  }
  if (tool.scopes.includes(SCOPE.membershipReadOnly)) {
    claims[CLAIM.nrps] = {
      context_memberships_url: profile.membershipsUrl(base, course.id, tool),
      service_versions: [...profile.nrpsServiceVersions],
    };
  }
  if (messageType === 'LtiDeepLinkingRequest') claims[CLAIM.deepLinkingSettings] = deepLinkingSettings(ctx, launch);

  if (isCanvas) {
    const legacyId = canvasLegacyUserId(user.id);
    claims[CLAIM.lti11LegacyUserId] = legacyId;
    claims[CLAIM.lti1p1] = { user_id: legacyId };
    claims[CLAIM.canvasPlacement] = messageType === 'LtiDeepLinkingRequest' ? 'link_selection' : null;
    claims.errors = { errors: {} };
  } else {
    claims[CLAIM.ext] = { user_username: user.id, lms: 'moodle-2' };
    claims[CLAIM.lis] = { person_sourcedid: '', course_section_sourcedid: '' };
  }
  return claims;
}
