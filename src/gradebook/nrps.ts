import { z } from 'zod';
import { SCOPES } from '../lti/tool-configuration.js';
import { readAllPages, type ReadContext } from './paging.js';
import { MEDIA_TYPE } from './service-http.js';
import type { RosterMember } from './types.js';


const optionalText = z
  .string()
  .nullish()
  .transform((value) => (value === null || value === undefined || value === '' ? undefined : value));

const memberJson = z.looseObject({
  user_id: z.union([z.string().min(1), z.number()]).transform(String),
  roles: z.array(z.string()).default([]),
  status: z.enum(['Active', 'Inactive', 'Deleted']).default('Active'),
  name: optionalText,
  given_name: optionalText,
  family_name: optionalText,
  email: optionalText,
});

const membershipContainer = z.looseObject({ members: z.array(memberJson) });

function normaliseMember(member: z.infer<typeof memberJson>): RosterMember {
  return {
    userId: member.user_id,
    ...(member.name === undefined ? {} : { name: member.name }),
    ...(member.given_name === undefined ? {} : { givenName: member.given_name }),
    ...(member.family_name === undefined ? {} : { familyName: member.family_name }),
    ...(member.email === undefined ? {} : { email: member.email }),
    // Moodle sends short names (Learner), Canvas full LIS URIs: kept as given, src/lti/roles.ts reads both.
    roles: member.roles,
    status: member.status,
  };
}

export interface MembersQuery {
  /** A context role, short (Learner) or as a URI. */
  role?: string;
}

export async function listMembers(ctx: ReadContext, contextMembershipsUrl: string, query: MembersQuery = {}): Promise<RosterMember[]> {
  const first = new URL(contextMembershipsUrl);
  if (query.role !== undefined) first.searchParams.set('role', query.role);
  first.searchParams.set('limit', String(ctx.pageSize));
  return readAllPages(
    {
      firstUrl: first.toString(),
      carriedParams: ['role'],
      readPage: async (url, call) => {
        const { body, link } = await ctx.reader.getJson(url, { accept: MEDIA_TYPE.membershipContainer, scope: SCOPES.membershipReadOnly, schema: membershipContainer }, call);
        return { items: body.members.map(normaliseMember), link };
      },
    },
    ctx,
    ctx.call,
  );
}
