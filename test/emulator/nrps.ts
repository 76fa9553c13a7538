import type { Express, Request, Response } from 'express';
import { canvasLegacyUserId, toolPrivacy } from './claims.js';
import type { PlatformContext } from './context.js';
import { param } from './http-util.js';
import { canvasPage, moodleMembershipPage } from './paging.js';
import { authorizeService, serviceError } from './service-auth.js';
import type { EnrolmentRole, RegisteredTool, User } from './types.js';
import { MEDIA_TYPE, ROLE, SCOPE } from './vocabulary.js';

const CONTEXT_ROLE_PREFIX = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';

function fullRole(role: string): string {
  return role.startsWith('http://') || role.startsWith('https://') ? role : CONTEXT_ROLE_PREFIX + role;
}

/** Moodle only distinguishes teachers (Instructor filter) from everyone else (Learner filter excludes teachers). */
function moodleRoleFilter(ctx: PlatformContext, role: string | undefined): (roles: EnrolmentRole[]) => boolean {
  if (!role) return () => true;
  const isTeacher = (roles: EnrolmentRole[]): boolean => ctx.profile.memberRoles(roles).includes('Instructor');
  if (fullRole(role) === ROLE.membershipInstructor) return isTeacher;
  if (fullRole(role) === ROLE.membershipLearner) return (roles) => !isTeacher(roles);
  return () => true;
}

function canvasRoleFilter(ctx: PlatformContext, role: string | undefined): (roles: EnrolmentRole[]) => boolean {
  if (!role) return () => true;
  return (roles) => ctx.profile.memberRoles(roles).includes(fullRole(role));
}

function memberJson(ctx: PlatformContext, tool: RegisteredTool, user: User, roles: EnrolmentRole[]): Record<string, unknown> {
  const { sendNames, sendEmail } = toolPrivacy(tool);
  const names = sendNames ? { name: user.name, given_name: user.givenName, family_name: user.familyName } : {};
  const email = sendEmail && user.email ? { email: user.email } : {};
  if (ctx.profile.flavor === 'moodle') {
    // users_to_json(): status, roles, then user_id and lis_person_sourcedid (Moodle idnumber, empty here).
    return { status: 'Active', roles: ctx.profile.memberRoles(roles), user_id: user.id, lis_person_sourcedid: '', ...names, ...email };
  }
  return {
    status: 'Active',
    ...names,
    ...email,
    user_id: user.id,
    lti11_legacy_user_id: canvasLegacyUserId(user.id),
    roles: ctx.profile.memberRoles(roles),
  };
}

/** Moodle's router refuses a GET whose Accept is neither absent, a wildcard, nor one of the resource's types. */
function moodleAcceptOk(req: Request): boolean {
  const accept = req.get('accept');
  return !accept || accept.includes('*/*') || accept === MEDIA_TYPE.membershipContainer || accept === MEDIA_TYPE.lisMembershipContainer;
}

function listMembers(ctx: PlatformContext, req: Request, res: Response): void {
  const caller = authorizeService(ctx, req, res, [SCOPE.membershipReadOnly]);
  if (!caller) return;
  const isMoodle = ctx.profile.flavor === 'moodle';
  if (isMoodle && req.params.typeId !== caller.tool.toolTypeId) {
    return serviceError(ctx, req, res, 401, 'The binding does not match the tool of the access token');
  }
  if (isMoodle && !moodleAcceptOk(req)) return serviceError(ctx, req, res, 400);
  const courseId = req.params.courseId!;
  const course = ctx.store.courses.get(courseId);
  if (!course) return serviceError(ctx, req, res, 404);
  const role = param(req.query, 'role');
  const keep = isMoodle ? moodleRoleFilter(ctx, role) : canvasRoleFilter(ctx, role);
  const members = ctx.store
    .members(courseId)
    .filter((m) => keep(m.roles));
  const render = (m: (typeof members)[number]) => memberJson(ctx, caller.tool, m.user, m.roles);
  const endpoint = ctx.profile.membershipsUrl(ctx.base(), courseId, caller.tool);
  const page = isMoodle ? moodleMembershipPage(ctx, req, members, render, endpoint) : canvasPage(ctx, req, members, render);
  if (page.link) res.set('Link', page.link);
  res
    .status(200)
    .type(MEDIA_TYPE.membershipContainer)
    .send(
      JSON.stringify({
        id: isMoodle ? endpoint : new URL(req.originalUrl, ctx.base()).toString(),
        context: { id: course.id, label: course.label, title: course.title },
        members: page.items,
      }),
    );
}

export function mountNrpsRoutes(app: Express, ctx: PlatformContext): void {
  const route =
    ctx.profile.flavor === 'moodle'
      ? '/mod/lti/services.php/CourseSection/:courseId/bindings/:typeId/memberships'
      : '/api/lti/courses/:courseId/names_and_roles';
  app.get(route, (req, res) => listMembers(ctx, req, res));
}
