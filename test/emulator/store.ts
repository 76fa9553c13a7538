import type {
  Course,
  DeepLinkingResponseRecord,
  EnrolmentRole,
  LaunchParams,
  LineItemInput,
  RecordedRequest,
  RegisteredTool,
  ResourceLink,
  StoredScore,
  User,
} from './types.js';

/** Caps keep a long-running demo from growing without bound; far above what a test produces. */
const MAX_REQUESTS = 10_000;
const MAX_EPHEMERAL = 5_000;

export interface LineItemRecord extends LineItemInput {
  number: number;
  courseId: string;
  /** Extra members the tool sent when creating the item (Moodle echoes them back). */
  extensions: Record<string, unknown>;
}

export interface GradeRecord extends StoredScore {
  resultNumber: number;
}

export interface AccessTokenRecord {
  clientId: string;
  scopes: string[];
  expiresAt: number;
}

export interface PendingLaunch extends LaunchParams {
  expiresAt: number;
}

export interface PendingDeepLink {
  clientId: string;
  deploymentId: string;
  courseId: string;
  userId: string;
  expiresAt: number;
}

export interface RegistrationTokenRecord {
  clientId: string;
  expiresAt: number;
  used: boolean;
}

type SequenceKind = 'toolType' | 'clientKey' | 'lineItem' | 'result' | 'resourceLink';

/** A Map that forgets its oldest entries beyond `limit` and entries whose `expiresAt` (ms) has passed. */
class ExpiringMap<V extends { expiresAt: number }> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly limit: number) {}

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    this.prune();
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value && value.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return value;
  }

  take(key: string): V | undefined {
    const value = this.get(key);
    this.entries.delete(key);
    return value;
  }

  values(): V[] {
    return [...this.entries.values()];
  }

  private prune(): void {
    const now = Date.now();
    for (const [key, value] of this.entries) {
      if (this.entries.size <= this.limit && value.expiresAt > now) break;
      this.entries.delete(key);
    }
  }
}

/** In-memory state of the platform. */
export class Store {
  readonly courses = new Map<string, Course>();
  readonly users = new Map<string, User>();
  /** courseId → userId → roles. */
  readonly enrolments = new Map<string, Map<string, EnrolmentRole[]>>();
  /** `${courseId}\n${linkId}` → link. */
  readonly resourceLinks = new Map<string, ResourceLink>();
  readonly tools = new Map<string, RegisteredTool>();
  readonly lineItems = new Map<number, LineItemRecord>();
  /** line item number → userId → grade. */
  readonly grades = new Map<number, Map<string, GradeRecord>>();
  readonly accessTokens = new ExpiringMap<AccessTokenRecord>(MAX_EPHEMERAL);
  readonly issuedTokens: AccessTokenRecord[] = [];
  readonly usedAssertionIds = new ExpiringMap<{ expiresAt: number }>(MAX_EPHEMERAL);
  readonly registrationTokens = new ExpiringMap<RegistrationTokenRecord>(MAX_EPHEMERAL);
  readonly pendingLaunches = new ExpiringMap<PendingLaunch>(MAX_EPHEMERAL);
  readonly pendingDeepLinks = new ExpiringMap<PendingDeepLink>(MAX_EPHEMERAL);
  readonly requests: RecordedRequest[] = [];
  readonly deepLinkingResponses: DeepLinkingResponseRecord[] = [];

  private readonly sequences: Record<SequenceKind, number> = { toolType: 0, clientKey: 0, lineItem: 0, result: 0, resourceLink: 0 };

  next(kind: SequenceKind): number {
    this.sequences[kind] += 1;
    return this.sequences[kind];
  }

  recordRequest(entry: RecordedRequest): void {
    this.requests.push(entry);
    if (this.requests.length > MAX_REQUESTS) this.requests.splice(0, this.requests.length - MAX_REQUESTS);
  }

  recordIssuedToken(token: AccessTokenRecord): void {
    this.issuedTokens.push(token);
    if (this.issuedTokens.length > MAX_EPHEMERAL) this.issuedTokens.splice(0, this.issuedTokens.length - MAX_EPHEMERAL);
  }

  course(id: string): Course {
    const course = this.courses.get(id);
    if (!course) throw new Error(`unknown course ${id}`);
    return course;
  }

  user(id: string): User {
    const user = this.users.get(id);
    if (!user) throw new Error(`unknown user ${id}`);
    return user;
  }

  tool(clientId: string): RegisteredTool {
    const tool = this.tools.get(clientId);
    if (!tool) throw new Error(`unknown tool ${clientId}`);
    return tool;
  }

  toolByTypeId(toolTypeId: string): RegisteredTool | undefined {
    return [...this.tools.values()].find((t) => t.toolTypeId === toolTypeId);
  }

  rolesOf(courseId: string, userId: string): EnrolmentRole[] {
    return this.enrolments.get(courseId)?.get(userId) ?? [];
  }

  members(courseId: string): Array<{ user: User; roles: EnrolmentRole[] }> {
    const enrolled = this.enrolments.get(courseId) ?? new Map<string, EnrolmentRole[]>();
    return [...enrolled].map(([userId, roles]) => ({ user: this.user(userId), roles }));
  }

  putResourceLink(link: ResourceLink): void {
    this.resourceLinks.set(`${link.courseId}\n${link.id}`, link);
  }

  resourceLink(courseId: string, linkId: string): ResourceLink | undefined {
    return this.resourceLinks.get(`${courseId}\n${linkId}`);
  }

  linksOf(courseId: string): ResourceLink[] {
    return [...this.resourceLinks.values()].filter((l) => l.courseId === courseId);
  }

  /** Line items of a course a tool may see: its own and unowned ones. */
  lineItemsVisibleTo(courseId: string, clientId: string): LineItemRecord[] {
    return [...this.lineItems.values()].filter(
      (li) => li.courseId === courseId && (li.toolClientId === undefined || li.toolClientId === clientId),
    );
  }

  gradesOf(lineItemNumber: number): Map<string, GradeRecord> {
    let grades = this.grades.get(lineItemNumber);
    if (!grades) {
      grades = new Map();
      this.grades.set(lineItemNumber, grades);
    }
    return grades;
  }
}
