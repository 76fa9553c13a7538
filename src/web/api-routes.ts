import type { Request, Response } from 'express';
import type { LtijsIdToken, LtijsProvider } from 'ltijs';
import { z } from 'zod';
import type { AwardingService } from '../credentials/awarding.js';
import { CourseDashboard, MAX_BULK } from '../credentials/course-dashboard.js';
import { explainDecisions, latestDecisions } from '../credentials/explanations.js';
import { CredentialNotFoundError, type CourseRef, type DefinitionService, type Saved } from '../credentials/definitions.js';
import type { Db } from '../db/database.js';
import { zodErrors } from '../criteria/index.js';
import { GradebookError } from '../gradebook/errors.js';
import { mapRoles } from '../lti/roles.js';
import { handle } from './async-handler.js';
import { IssuanceRefusal, type IssuanceService, type IssuedRow } from '../issuance/issuance-service.js';
import { DOWNLOAD_FORMATS, type CredentialDownloads } from './credential-downloads.js';
import { requestLanguage } from './render.js';
import { translator } from './i18n.js';
import { launchCourse } from './launch-course.js';

interface Deps {
  lti: LtijsProvider;
  db: Db;
  definitions: DefinitionService;
  awarding: AwardingService;
  issuance: IssuanceService;
  downloads: CredentialDownloads;
}

const REFUSAL_STATUS: Record<IssuanceRefusal['reason'], number> = {
  not_awarded: 409, award_revoked: 409, unknown_learner: 404, already_awarded: 409, already_revoked: 409,
};


/** JSON errors carry a stable code and a message in the user's language. */
function fail(req: Request, res: Response, status: number, code: string, extra: Record<string, unknown> = {}) {
  res.status(status).json({ error: code, message: translator(requestLanguage(req, res))(`api.${code}`, extra as Record<string, string>), ...extra });
}

/** The input as the schema reads it; otherwise a 400 naming each field is sent, and undefined. */
function validInput<T>(schema: z.ZodType<T>, input: unknown, req: Request, res: Response): T | undefined {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  fail(req, res, 400, 'invalid', { errors: zodErrors(parsed.error) });
  return undefined;
}

/**
 * The JSON API under /api/v1, authenticated by the launch's ltik (ltijs checks it before these
 * handlers run). Everything is scoped to the course of that launch: an id from another course or
 * platform is simply not found.
 */
export function apiRoutes({ lti, db, definitions, awarding, issuance, downloads }: Deps): void {
  const dashboard = new CourseDashboard(db, issuance);

  const isStaff = (res: Response) => mapRoles((res.locals.token as LtijsIdToken).platformContext.roles ?? []).staff;

  /** Wraps a handler with the course lookup, the staff check and the shared error answers. */
  const route = (staffOnly: boolean, fn: (req: Request, res: Response, course: CourseRef) => Promise<unknown>) => handle(async (req: Request, res: Response) => {
    const course = await launchCourse(db, res.locals.token as LtijsIdToken);
    if (!course) return fail(req, res, 404, 'no_course');
    if (staffOnly && !isStaff(res)) return fail(req, res, 403, 'staff_only');
    try {
      return await fn(req, res, course);
    } catch (err) {
      if (err instanceof CredentialNotFoundError) return fail(req, res, 404, 'not_found');
      if (err instanceof GradebookError) return fail(req, res, 503, 'lms_unreachable', { detail: err.kind });
      if (err instanceof IssuanceRefusal) return fail(req, res, REFUSAL_STATUS[err.reason], err.reason);
      throw err;
    }
  });

  const answerSaved = (req: Request, res: Response, saved: Saved, created: boolean) => {
    if (!saved.ok) return fail(req, res, 400, 'invalid', { errors: saved.errors });
    return res.status(created ? 201 : 200).json(saved.credential);
  };

  lti.app.get('/api/v1/credentials', route(false, async (_req, res, course) => {
    res.json({ credentials: await definitions.list(course) });
  }));

  lti.app.get('/api/v1/credentials/:id', route(false, async (req, res, course) => {
    res.json(await definitions.get(course, String(req.params.id)));
  }));

  lti.app.post('/api/v1/credentials', route(true, async (req, res, course) => {
    const lineItems = await awarding.courseLineItems(course.contextRef);
    answerSaved(req, res, await definitions.create(course, req.body, lineItems, (res.locals.token as LtijsIdToken).user), true);
  }));

  lti.app.put('/api/v1/credentials/:id', route(true, async (req, res, course) => {
    await definitions.get(course, String(req.params.id));
    const lineItems = await awarding.courseLineItems(course.contextRef);
    answerSaved(req, res, await definitions.update(course, String(req.params.id), req.body, lineItems, (res.locals.token as LtijsIdToken).user), false);
  }));

  const copyRequest = z.object({ fromCourse: z.string().min(1), credentialId: z.string().uuid() }).strict();
  lti.app.post('/api/v1/credentials/copy', route(true, async (req, res, course) => {
    const body = validInput(copyRequest, req.body, req, res);
    if (!body) return;
    // The source is another course of the same platform, named by its LMS context id.
    const source = await db.selectFrom('lti_context').select('id')
      .where('issuer', '=', course.issuer).where('client_id', '=', course.clientId).where('context_id', '=', body.fromCourse).executeTakeFirst();
    if (!source) return fail(req, res, 404, 'not_found');
    const lineItems = await awarding.courseLineItems(course.contextRef);
    answerSaved(req, res, await definitions.copy({ ...course, contextRef: source.id }, body.credentialId, course, lineItems, (res.locals.token as LtijsIdToken).user), true);
  }));

  const approval = z.object({ userId: z.string().min(1).max(255), note: z.string().max(1000).optional() }).strict();
  lti.app.post('/api/v1/credentials/:id/approvals', route(true, async (req, res, course) => {
    const credential = await definitions.get(course, String(req.params.id));
    const body = validInput(approval, req.body, req, res);
    if (!body) return;
    await db.insertInto('staff_approval').values({ credential_id: credential.id, user_id: body.userId, approved_by: (res.locals.token as LtijsIdToken).user, note: body.note ?? null })
      .onConflict((oc) => oc.columns(['credential_id', 'user_id']).doNothing()).execute();
    res.status(201).json({ credentialId: credential.id, userId: body.userId });
  }));

  /** On instructor demand: read the whole course now and decide. */
  lti.app.post('/api/v1/course/sync', route(true, async (req, res, course) => {
    const outcome = await awarding.syncCourse(course.contextRef, 'course_sync');
    if (!outcome.ok) return fail(req, res, 503, 'lms_unreachable', { detail: outcome.error, nextAttemptAt: outcome.nextAttemptAt.toISOString() });
    res.json({ fetchedAt: outcome.fetchedAt, learners: outcome.learners, qualified: outcome.qualified, newAwards: outcome.newAwards, lmsRequests: outcome.requests });
  }));

  /**
   * Progress as last decided. A learner gets their own, with the explanation. Staff get every
   * learner's verdict and progress, or one learner's explanation with `?userId=`.
   */
  const progressQuery = z.object({ userId: z.string().min(1).max(255).optional() }).strict();
  lti.app.get('/api/v1/progress', route(false, async (req, res, course) => {
    const { ltik: _session, ...filters } = req.query;
    const query = validInput(progressQuery, filters, req, res);
    if (!query) return;
    const token = res.locals.token as LtijsIdToken;
    const staff = isStaff(res);
    if (!staff && query.userId !== undefined && query.userId !== token.user) return fail(req, res, 403, 'staff_only');
    const userId = staff ? query.userId : token.user;
    const credentialIds = (await db.selectFrom('credential').select('id').where('context_ref', '=', course.contextRef).execute()).map((c) => c.id);
    const decisions = await latestDecisions(db, credentialIds, userId);
    const evaluations = userId === undefined ? [] : await explainDecisions(db, course.contextRef, decisions);
    res.json({
      progress: decisions.map((d, i) => ({
        credentialId: d.credential_id, userId: d.user_id, revision: d.revision, qualified: d.qualified, progress: d.progress, decidedAt: d.decided_at,
        ...(evaluations[i] ? { evaluation: evaluations[i] } : {}),
      })),
    });
  }));

  const issuedView = (row: IssuedRow) => ({
    id: row.id, credentialId: row.credential_id, revision: row.revision, userId: row.user_id, issuedAt: row.issued_at,
    revokedAt: row.revoked_at, shared: row.share_enabled,
    links: Object.fromEntries(DOWNLOAD_FORMATS.map((f) => [f, `/api/v1/issued/${row.id}/${f}`])),
    credential: row.document,
  });

  /** A learner claims their award: the signed credential, made once however often this is called. */
  lti.app.post('/api/v1/credentials/:id/claim', route(false, async (req, res, course) => {
    const credential = await definitions.get(course, String(req.params.id));
    const token = res.locals.token as LtijsIdToken;
    const { issued, created } = await issuance.claim(course, credential.id, token.user, { name: token.userInfo.name, email: token.userInfo.email });
    res.status(created ? 201 : 200).json(issuedView(issued));
  }));

  /** The caller's credentials in this course. */
  lti.app.get('/api/v1/issued', route(false, async (_req, res, course) => {
    res.json({ issued: (await issuance.held(course, (res.locals.token as LtijsIdToken).user)).map(issuedView) });
  }));

  /** An issued credential of this course: its holder, or the course's staff. */
  const ownIssued = async (req: Request, res: Response, course: CourseRef): Promise<IssuedRow | undefined> => {
    const row = await issuance.inCourse(course, String(req.params.issuedId));
    if (!row || (row.user_id !== (res.locals.token as LtijsIdToken).user && !isStaff(res))) {
      fail(req, res, 404, 'not_found');
      return undefined;
    }
    return row;
  };

  lti.app.get('/api/v1/issued/:issuedId', route(false, async (req, res, course) => {
    const row = await ownIssued(req, res, course);
    if (row) res.json(issuedView(row));
  }));

  lti.app.get('/api/v1/issued/:issuedId/:format', route(false, async (req, res, course) => {
    const format = z.enum(DOWNLOAD_FORMATS).safeParse(req.params.format);
    if (!format.success) return fail(req, res, 404, 'not_found');
    const row = await ownIssued(req, res, course);
    if (!row) return;
    const file = await downloads.render(row, format.data, requestLanguage(req, res));
    // attachment() sets the type from the file name; ours must win.
    res.attachment(file.fileName).type(file.contentType).send(file.body);
  }));

  const share = z.object({ enabled: z.boolean() }).strict();
  lti.app.put('/api/v1/issued/:issuedId/share', route(false, async (req, res, course) => {
    const row = await ownIssued(req, res, course);
    if (!row) return;
    if (row.user_id !== (res.locals.token as LtijsIdToken).user) return fail(req, res, 403, 'holder_only');
    const body = validInput(share, req.body, req, res);
    if (!body) return;
    await issuance.setShared(row.id, body.enabled, row.user_id);
    res.json({ id: row.id, shared: body.enabled });
  }));

  /** A bulk request names `userIds`; each learner gets their own outcome, and each is written whole or not at all. */
  const isBulk = (body: unknown) => typeof body === 'object' && body !== null && 'userIds' in body;
  const userIds = z.array(z.string().min(1).max(255)).min(1).max(MAX_BULK);

  const manualAward = z.object({ userId: z.string().min(1).max(255), note: z.string().trim().min(1).max(1000) }).strict();
  const bulkAward = z.object({ userIds, note: z.string().trim().min(1).max(1000) }).strict();
  lti.app.post('/api/v1/credentials/:id/awards', route(true, async (req, res, course) => {
    const credential = await definitions.get(course, String(req.params.id));
    if (isBulk(req.body)) {
      const bulk = validInput(bulkAward, req.body, req, res);
      if (!bulk) return;
      const results = await dashboard.award(course, credential.id, bulk.userIds, (res.locals.token as LtijsIdToken).user, bulk.note);
      return res.json({ credentialId: credential.id, results });
    }
    const body = validInput(manualAward, req.body, req, res);
    if (!body) return;
    const { revision } = await issuance.awardManually(course, credential.id, body.userId, (res.locals.token as LtijsIdToken).user, body.note);
    res.status(201).json({ credentialId: credential.id, revision, userId: body.userId });
  }));

  const revocation = z.object({ userId: z.string().min(1).max(255), reason: z.string().trim().min(1).max(1000) }).strict();
  const bulkRevocation = z.object({ userIds, reason: z.string().trim().min(1).max(1000) }).strict();
  lti.app.post('/api/v1/credentials/:id/revocations', route(true, async (req, res, course) => {
    const credential = await definitions.get(course, String(req.params.id));
    if (isBulk(req.body)) {
      const bulk = validInput(bulkRevocation, req.body, req, res);
      if (!bulk) return;
      const results = await dashboard.revoke(course, credential.id, bulk.userIds, (res.locals.token as LtijsIdToken).user, bulk.reason);
      return res.json({ credentialId: credential.id, results });
    }
    const body = validInput(revocation, req.body, req, res);
    if (!body) return;
    const outcome = await issuance.revoke(course, credential.id, body.userId, (res.locals.token as LtijsIdToken).user, body.reason);
    res.json({ credentialId: credential.id, userId: body.userId, revokedCredential: outcome.revokedCredential });
  }));
}
