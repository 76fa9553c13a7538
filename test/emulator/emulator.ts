import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createLineItem, mountAgsRoutes, publicLineItem, scoreFromInput, storeScore } from './ags.js';
import { buildLaunchClaims } from './claims.js';
import type { PlatformContext, ResolvedOptions } from './context.js';
import { mountDeepLinkingRoutes } from './deep-linking.js';
import { FaultInjector } from './faults.js';
import { flavorProfile } from './flavor.js';
import { mountHomePage } from './home.js';
import { flattenQuery, mediaType } from './http-util.js';
import { PlatformKeys } from './keys.js';
import { initiateLogin, launchUrl, mountLaunchRoutes } from './launch.js';
import { mountNrpsRoutes } from './nrps.js';
import { dynamicRegistrationUrl, endpoints, mountRegistrationRoutes, registerTool } from './registration.js';
import { Store, type LineItemRecord } from './store.js';
import { mountTokenRoute } from './token.js';
import type {
  Course,
  DeepLinkingResponseRecord,
  EmulatorOptions,
  EnrolmentRole,
  Endpoints,
  Fault,
  IssuedAccessToken,
  LaunchClaimParams,
  LaunchParams,
  LineItem,
  LineItemInput,
  LmsFlavor,
  LoginInitiation,
  RecordedRequest,
  RegisteredTool,
  ScoreInput,
  SignOptions,
  StoredScore,
  ToolRegistrationInput,
  User,
} from './types.js';

const BODY_LIMIT = '100kb';
const ENROLMENT_ROLES: readonly EnrolmentRole[] = ['Instructor', 'Learner', 'TeachingAssistant', 'Administrator', 'ContentDeveloper'];

/** An LTI 1.3 / LTI Advantage platform (Moodle or Canvas flavored) listening on 127.0.0.1. */
export class LmsEmulator {
  readonly flavor: LmsFlavor;
  readonly faults: { set(fault: Fault): void; clear(): void };

  private readonly store = new Store();
  private readonly ctx: PlatformContext;
  private readonly faultInjector: FaultInjector;
  private readonly port: number;
  private platformKeys: PlatformKeys | undefined;
  private server: Server | undefined;
  private baseUrl: string | undefined;

  constructor(opts: EmulatorOptions = {}) {
    this.flavor = opts.flavor ?? 'moodle';
    this.port = opts.port ?? 0;
    const options: ResolvedOptions = {
      accessTokenTtlSeconds: opts.accessTokenTtlSeconds ?? 3600,
      defaultPageSize: opts.defaultPageSize,
      moodlePagingQuirks: opts.moodlePagingQuirks ?? true,
    };
    if (options.defaultPageSize !== undefined && !(options.defaultPageSize > 0)) throw new Error('defaultPageSize must be > 0');
    const profile = flavorProfile(this.flavor);
    const canvasGuid = `${randomBytes(20).toString('hex')}:canvas-lms`;
    this.ctx = {
      profile,
      store: this.store,
      options,
      accountContextId: randomBytes(20).toString('hex'),
      platformGuid: () => (this.flavor === 'canvas' ? canvasGuid : new URL(this.ctx.base()).host),
      platformName: this.flavor === 'canvas' ? 'Canvas LMS Emulator' : 'Moodle LMS Emulator',
      keys: () => {
        if (!this.platformKeys) throw new Error('LmsEmulator is not started');
        return this.platformKeys;
      },
      base: () => {
        if (!this.baseUrl) throw new Error('LmsEmulator is not started');
        return this.baseUrl;
      },
    };
    this.faultInjector = new FaultInjector(this.ctx);
    this.faults = { set: (fault) => this.faultInjector.set(fault), clear: () => this.faultInjector.clear() };
  }

  /** Listens on 127.0.0.1 and returns the base URL, which is also the issuer. */
  async start(): Promise<string> {
    if (this.baseUrl) return this.baseUrl;
    this.platformKeys ??= await PlatformKeys.generate();
    const app = this.createApp();
    const server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(this.port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.faultInjector.cancelDelays();
    await new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    });
    this.server = undefined;
    this.baseUrl = undefined;
  }

  get url(): string {
    return this.ctx.base();
  }

  get endpoints(): Endpoints {
    return endpoints(this.ctx);
  }

  /** Every request handled, oldest first (the live array: tests may empty it). */
  get requests(): RecordedRequest[] {
    return this.store.requests;
  }

  /** Deep linking responses received from tools, oldest first. */
  get deepLinkingResponses(): DeepLinkingResponseRecord[] {
    return this.store.deepLinkingResponses;
  }

  addCourse(c: { id: string; title: string; label: string }): Course {
    if (this.store.courses.has(c.id)) throw new Error(`course ${c.id} already exists`);
    const course = { id: c.id, title: c.title, label: c.label };
    this.store.courses.set(course.id, course);
    return { ...course };
  }

  addUser(u: User): User {
    if (this.store.users.has(u.id)) throw new Error(`user ${u.id} already exists`);
    const user = { ...u };
    this.store.users.set(user.id, user);
    return { ...user };
  }

  enrol(courseId: string, userId: string, roles: EnrolmentRole[]): void {
    this.store.course(courseId);
    this.store.user(userId);
    const unknown = roles.filter((r) => !ENROLMENT_ROLES.includes(r));
    if (roles.length === 0 || unknown.length > 0) throw new Error(`roles must be a non-empty subset of ${ENROLMENT_ROLES.join(', ')}`);
    let enrolled = this.store.enrolments.get(courseId);
    if (!enrolled) {
      enrolled = new Map();
      this.store.enrolments.set(courseId, enrolled);
    }
    enrolled.set(userId, [...new Set(roles)]);
  }

  addResourceLink(
    courseId: string,
    link: { id: string; title: string; toolClientId: string; customParameters?: Record<string, string>; targetLinkUri?: string },
  ): void {
    this.store.course(courseId);
    this.store.tool(link.toolClientId);
    if (this.store.resourceLink(courseId, link.id)) throw new Error(`resource link ${link.id} already exists in course ${courseId}`);
    this.store.putResourceLink({
      id: link.id,
      courseId,
      title: link.title,
      toolClientId: link.toolClientId,
      customParameters: { ...(link.customParameters ?? {}) },
      ...(link.targetLinkUri ? { targetLinkUri: link.targetLinkUri } : {}),
    });
  }

  /** Creates a line item; it belongs to `toolClientId`, else to the resource link's tool, else to no tool (visible to all). */
  addLineItem(courseId: string, li: LineItemInput): LineItem {
    this.store.course(courseId);
    if (!(li.scoreMaximum > 0)) throw new Error('scoreMaximum must be > 0');
    const link = li.resourceLinkId ? this.store.resourceLink(courseId, li.resourceLinkId) : undefined;
    if (li.resourceLinkId && !link) throw new Error(`unknown resource link ${li.resourceLinkId} in course ${courseId}`);
    const toolClientId = li.toolClientId ?? link?.toolClientId;
    if (toolClientId) this.store.tool(toolClientId);
    const record = createLineItem(this.ctx, courseId, { ...li, ...(toolClientId ? { toolClientId } : {}) });
    return publicLineItem(this.ctx, record);
  }

  lineItems(courseId: string): LineItem[] {
    this.store.course(courseId);
    return [...this.store.lineItems.values()].filter((li) => li.courseId === courseId).map((li) => publicLineItem(this.ctx, li));
  }

  /** Sets a grade as a teacher would; `lineItemId` is the line item URL (any type_id) or its number. */
  setScore(courseId: string, lineItemId: string, userId: string, s: ScoreInput): void {
    this.store.user(userId);
    const li = this.findLineItem(courseId, lineItemId);
    storeScore(this.ctx, li, scoreFromInput(li, userId, s));
  }

  /** The score the platform holds for a user on a line item, whoever set it. */
  getScore(courseId: string, lineItemId: string, userId: string): StoredScore | undefined {
    const grade = this.store.gradesOf(this.findLineItem(courseId, lineItemId).number).get(userId);
    if (!grade) return undefined;
    const { resultNumber: _resultNumber, ...score } = grade;
    return structuredClone(score);
  }

  registerTool(t: ToolRegistrationInput): RegisteredTool {
    return registerTool(this.ctx, t);
  }

  tools(): RegisteredTool[] {
    return [...this.store.tools.values()].map((t) => structuredClone(t));
  }

  activateTool(clientId: string): void {
    this.store.tool(clientId).status = 'active';
  }

  dynamicRegistrationUrl(toolRegisterUrl: string): string {
    return dynamicRegistrationUrl(this.ctx, toolRegisterUrl);
  }

  launchUrl(p: LaunchParams): string {
    return launchUrl(this.ctx, p);
  }

  initiateLogin(p: LaunchParams): LoginInitiation {
    return initiateLogin(this.ctx, p);
  }

  signIdToken(claims: Record<string, unknown>, opts?: SignOptions): Promise<string> {
    return this.ctx.keys().sign(claims, opts);
  }

  buildLaunchClaims(p: LaunchClaimParams): Record<string, unknown> {
    return buildLaunchClaims(this.ctx, p);
  }

  issuedAccessTokens(): IssuedAccessToken[] {
    return this.store.issuedTokens.map((t) => ({ clientId: t.clientId, scopes: [...t.scopes], expiresAt: t.expiresAt }));
  }

  private findLineItem(courseId: string, lineItemId: string): LineItemRecord {
    this.store.course(courseId);
    const number = /^\d+$/.test(lineItemId) ? Number(lineItemId) : this.lineItemNumberFromUrl(lineItemId);
    const li = number === undefined ? undefined : this.store.lineItems.get(number);
    if (!li || li.courseId !== courseId) throw new Error(`unknown line item ${lineItemId} in course ${courseId}`);
    return li;
  }

  private lineItemNumberFromUrl(url: string): number | undefined {
    const match = /\/(?:lineitems|line_items)\/(\d+)(?:\/lineitem)?$/.exec(new URL(url, this.ctx.base()).pathname);
    return match ? Number(match[1]) : undefined;
  }

  private createApp(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.use((req, res, next) => {
      const at = Date.now();
      res.on('finish', () => {
        const scope = res.locals.scope as string | undefined;
        this.store.recordRequest({
          method: req.method,
          path: req.path,
          query: flattenQuery(req.query),
          status: res.statusCode,
          at,
          ...(scope === undefined ? {} : { scope }),
        });
      });
      next();
    });
    app.use(this.faultInjector.middleware());
    app.use(express.urlencoded({ extended: false, limit: BODY_LIMIT }));
    app.use(express.json({ limit: BODY_LIMIT, type: (req) => mediaType(req.headers['content-type']).endsWith('json') }));
    mountHomePage(app, this.ctx);
    app.get(this.ctx.profile.paths.jwks, (_req, res) => {
      res.json(this.ctx.keys().jwks());
    });
    mountRegistrationRoutes(app, this.ctx);
    mountLaunchRoutes(app, this.ctx);
    mountTokenRoute(app, this.ctx);
    mountAgsRoutes(app, this.ctx);
    mountNrpsRoutes(app, this.ctx);
    mountDeepLinkingRoutes(app, this.ctx);
    app.use((error: Error & { type?: string; status?: number }, req: Request, res: Response, _next: NextFunction) => {
      const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 500;
      const code = req.path === this.ctx.profile.paths.registration && status === 400 ? 'invalid_client_metadata' : 'invalid_request';
      res.status(status).json({ error: status === 500 ? 'server_error' : code, error_description: error.message });
    });
    return app;
  }
}
