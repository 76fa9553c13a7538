/** What a launch's roles claim lets the user do in this tool. */
export interface RoleSet {
  staff: boolean;
  learner: boolean;
  admin: boolean;
}

export type PrimaryRole = 'admin' | 'staff' | 'learner' | 'guest';

const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/';

/** The principal role of a URI: context roles (with sub-roles) and institution/system roles, plus the deprecated short names. */
function principal(role: string): string | undefined {
  if (!role.startsWith(LIS)) return /^[A-Za-z]+$/.test(role) ? role : undefined;
  const rest = role.slice(LIS.length); // e.g. membership#Instructor, membership/Instructor#TeachingAssistant, institution/person#Administrator
  const [scope, name] = rest.split('#') as [string, string | undefined];
  if (!name) return undefined;
  if (scope === 'membership' || scope === 'institution/person' || scope === 'system/person') return name;
  if (scope.startsWith('membership/')) return name === 'TeachingAssistant' ? name : scope.slice('membership/'.length);
  return undefined;
}

export function mapRoles(roles: readonly string[]): RoleSet {
  const names = new Set(roles.map(principal).filter((r): r is string => r !== undefined));
  return {
    staff: names.has('Instructor') || names.has('TeachingAssistant'),
    learner: names.has('Learner'),
    admin: names.has('Administrator') || names.has('SysAdmin'),
  };
}

export function primaryRole(set: RoleSet): PrimaryRole {
  if (set.admin) return 'admin';
  if (set.staff) return 'staff';
  if (set.learner) return 'learner';
  return 'guest';
}
