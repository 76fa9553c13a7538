import type { Request, Response } from 'express';
import type { LtijsIdToken, LtijsProvider } from 'ltijs';
import { z } from 'zod';
import type { AwardingService } from '../credentials/awarding.js';
import {
  CourseDashboard, LEARNER_SORTS, LEARNER_STATUSES, MAX_BULK, type LearnerQuery, type LearnerRow, type LogEntry,
} from '../credentials/course-dashboard.js';
import type { CourseRef } from '../credentials/definitions.js';
import { describeReason, describeTree } from '../criteria/describe.js';
import type { Evaluation } from '../criteria/index.js';
import type { Db } from '../db/database.js';
import { zodErrors } from '../criteria/index.js';
import type { IssuanceService } from '../issuance/issuance-service.js';
import { LTI_ROUTES } from '../lti/tool-configuration.js';
import { handle } from './async-handler.js';
import { csvLine } from './csv.js';
import { translator, type Language } from './i18n.js';
import { sessionUrl, staffCourse } from './launch-course.js';
import { renderError, renderPage, requestLanguage } from './render.js';

interface Deps {
  lti: LtijsProvider;
  db: Db;
  awarding: AwardingService;
  issuance: IssuanceService;
}

const PAGE_SIZE = 50;
/** Rows read per query while a CSV streams: bounded memory whatever the course size. */
const CSV_BATCH = 1_000;

/** An empty form field or parameter means "not given". */
const blankAsMissing = (v: unknown) => (v === '' ? undefined : v);

const learnersQuery = z.object({
  sort: z.enum(LEARNER_SORTS).default('name'),
  dir: z.enum(['asc', 'desc']).default('asc'),
  status: z.preprocess(blankAsMissing, z.enum(LEARNER_STATUSES).optional()),
  q: z.preprocess(blankAsMissing, z.string().trim().max(100).optional()),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
});

const logQuery = z.object({ page: z.coerce.number().int().min(1).max(1_000_000).default(1) });

/** The checked learners of the bulk form (`userIds[]`, one value or many) and the reason. */
const staffAction = z.object({
  userIds: z.preprocess((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]), z.array(z.string().min(1).max(255)).min(1).max(MAX_BULK)),
  reason: z.string().trim().min(1).max(1000),
});

const CREDENTIAL_ID = z.string().uuid();

/** The root's reason in the reader's language: the learners table's "why". */
const rootReason = (evaluation: Evaluation | null, lang: Language) => (evaluation ? describeReason(evaluation.progress.reason, lang) : null);

const LOG_ACTION_KEYS: Record<LogEntry['action'], string> = {
  'award.automatic': 'awardAutomatic', 'award.manual': 'awardManual', 'credential.issued': 'credentialIssued', 'credential.revoked': 'credentialRevoked',
};

/**
 * The instructor's course dashboard pages under /app (the ltik authenticates them, as for every
 * /app page): a credential's learners, one learner's progress, awards and revocations by hand,
 * the CSV export and the issuance log. State changes are POSTs with the ltik in the body.
 */
export function dashboardRoutes({ lti, db, awarding, issuance }: Deps): void {
  const dashboard = new CourseDashboard(db, issuance);
  const ltikOf = (res: Response) => res.locals.ltik as string;

  /** The course and the credential named in the path, for staff; otherwise the 403 or 404 page, and undefined. */
  const staffCredential = async (req: Request, res: Response) => {
    const course = await staffCourse(db, req, res);
    if (!course) return undefined;
    const id = CREDENTIAL_ID.safeParse(req.params.id);
    const credential = id.success ? await dashboard.credential(course, id.data) : undefined;
    if (!credential) {
      renderError(req, res, 404, { reason: 'not_found' });
      return undefined;
    }
    return { course, credential };
  };

  const invalidQuery = (req: Request, res: Response, error: z.ZodError, credential: { id: string; name: string }) => {
    // The same CSV is served under /api/v1, where answers are JSON like the rest of the API.
    if (req.originalUrl.startsWith('/api/')) {
      return res.status(400).json({ error: 'invalid', message: translator(requestLanguage(req, res))('api.invalid'), errors: zodErrors(error) });
    }
    const fields = [...new Set(error.issues.map((i) => String(i.path[0])))];
    renderPage(req, res, 400, 'dashboard/invalid-query', { fields, credentialName: credential.name, back: sessionUrl(`/app/credentials/${credential.id}`, res) });
  };

  /** Reads the whole course now, as POST /api/v1/course/sync does, and says what came of it. */
  lti.app.post('/app/course/sync', handle(async (req: Request, res: Response) => {
    const course = await staffCourse(db, req, res);
    if (!course) return;
    const outcome = await awarding.syncCourse(course.contextRef, 'course_sync');
    renderPage(req, res, outcome.ok ? 200 : 503, 'dashboard/synced', { outcome, back: sessionUrl(LTI_ROUTES.launch, res) });
  }));

  lti.app.get('/app/credentials/:id', handle(async (req: Request, res: Response) => {
    const found = await staffCredential(req, res);
    if (!found) return;
    const { course, credential } = found;
    const path = `/app/credentials/${credential.id}`;
    const parsed = learnersQuery.safeParse(req.query);
    if (!parsed.success) return invalidQuery(req, res, parsed.error, credential);
    const { page, ...query } = parsed.data;
    const lang = requestLanguage(req, res);
    const { rows, total } = await dashboard.learners(course, credential.id, query, { offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
    const evaluations = await dashboard.explanations(course.contextRef, rows);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const state = { sort: query.sort, dir: query.dir, status: query.status, q: query.q };
    const sortLinks = Object.fromEntries(LEARNER_SORTS.map((column) => {
      const active = query.sort === column;
      const dir = active && query.dir === 'asc' ? 'desc' : 'asc';
      return [column, { href: sessionUrl(path, res, { ...state, sort: column, dir }), ariaSort: active ? (query.dir === 'asc' ? 'ascending' : 'descending') : 'none' }];
    }));
    // Until the course's roster is read, only learners who launched are known.
    const rosterRead = await db.selectFrom('course_sync').select('last_success_at').where('context_ref', '=', course.contextRef).where('last_success_at', 'is not', null).executeTakeFirst();
    renderPage(req, res, 200, 'dashboard/credential', {
      ltik: ltikOf(res),
      credential,
      rosterRead: Boolean(rosterRead),
      query,
      statuses: LEARNER_STATUSES,
      learners: rows.map((r, i) => ({ ...r, reason: rootReason(evaluations[i] ?? null, lang), href: sessionUrl(`${path}/learners/${encodeURIComponent(r.userId)}`, res) })),
      total,
      page,
      pages,
      from: rows.length ? (page - 1) * PAGE_SIZE + 1 : 0,
      to: (page - 1) * PAGE_SIZE + rows.length,
      sortLinks,
      previous: page > 1 ? sessionUrl(path, res, { ...state, page: page - 1 }) : null,
      next: page < pages ? sessionUrl(path, res, { ...state, page: page + 1 }) : null,
      csvHref: sessionUrl(`${path}/learners.csv`, res, state),
      logHref: sessionUrl(`${path}/log`, res),
      back: sessionUrl(LTI_ROUTES.launch, res),
    });
  }));

  lti.app.get('/app/credentials/:id/learners/:userId', handle(async (req: Request, res: Response) => {
    const found = await staffCredential(req, res);
    if (!found) return;
    const { course, credential } = found;
    const userId = String(req.params.userId);
    const { rows: [learner] } = await dashboard.learners(course, credential.id, { sort: 'name', dir: 'asc', userId }, { offset: 0, limit: 1 });
    if (!learner) return renderError(req, res, 404, { reason: 'not_found' });
    const [evaluation] = await dashboard.explanations(course.contextRef, [learner]);
    renderPage(req, res, 200, 'dashboard/learner', {
      ltik: ltikOf(res),
      credential,
      learner,
      criteria: evaluation ? describeTree(evaluation.progress, requestLanguage(req, res)) : null,
      back: sessionUrl(`/app/credentials/${credential.id}`, res),
    });
  }));

  const staffActionRoute = (action: 'award' | 'revoke') => handle(async (req: Request, res: Response) => {
    const found = await staffCredential(req, res);
    if (!found) return;
    const { course, credential } = found;
    const body = staffAction.safeParse({ userIds: req.body?.['userIds[]'], reason: req.body?.reason });
    const back = sessionUrl(`/app/credentials/${credential.id}`, res);
    const submitted = { userIds: [req.body?.['userIds[]'] ?? []].flat().map(String).slice(0, MAX_BULK), reason: String(req.body?.reason ?? '') };
    if (!body.success) {
      const errors = Object.fromEntries(body.error.issues.map((i) => [String(i.path[0]), `dashboard.action.errors.${String(i.path[0])}`]));
      return renderPage(req, res, 400, 'dashboard/action', { ltik: ltikOf(res), action, credential, errors, submitted, results: null, back });
    }
    const actor = (res.locals.token as LtijsIdToken).user;
    const results = action === 'award'
      ? await dashboard.award(course, credential.id, body.data.userIds, actor, body.data.reason)
      : await dashboard.revoke(course, credential.id, body.data.userIds, actor, body.data.reason);
    const names = await dashboard.names(course, results.map((r) => r.userId));
    renderPage(req, res, 200, 'dashboard/action', {
      ltik: ltikOf(res), action, credential, errors: {}, submitted, back,
      results: results.map((r) => ({ userId: r.userId, name: names.get(r.userId) ?? null, outcome: r.outcome })),
    });
  });
  lti.app.post('/app/credentials/:id/awards', staffActionRoute('award'));
  lti.app.post('/app/credentials/:id/revocations', staffActionRoute('revoke'));

  /** One row per learner matching the table's filter, streamed page by page; UTF-8 with a BOM so Excel reads it. */
  const learnersCsv = handle(async (req: Request, res: Response) => {
    const found = await staffCredential(req, res);
    if (!found) return;
    const { course, credential } = found;
    const parsed = learnersQuery.omit({ page: true }).safeParse(req.query);
    if (!parsed.success) return invalidQuery(req, res, parsed.error, credential);
    const query: LearnerQuery = parsed.data;
    const lang = requestLanguage(req, res);
    const t = translator(lang);
    const iso = (d: Date | null) => (d ? d.toISOString() : '');
    res.status(200).type('text/csv; charset=utf-8').attachment(`learners-${credential.id}.csv`);
    const columns = ['userId', 'name', 'email', 'status', 'progress', 'qualified', 'awardedAt', 'claimedAt', 'revokedAt', 'reason'];
    res.write(`\uFEFF${csvLine(columns.map((c) => t(`dashboard.csv.${c}`)))}`);
    for (let offset = 0; ; offset += CSV_BATCH) {
      const { rows } = await dashboard.learners(course, credential.id, query, { offset, limit: CSV_BATCH });
      const evaluations = await dashboard.explanations(course.contextRef, rows);
      const chunk = rows.map((r: LearnerRow, i) => csvLine([
        r.userId, r.name, r.email ?? '', t(`dashboard.status.${r.status}`), String(Math.floor(r.progress * 100)), t(r.qualified ? 'dashboard.csv.yes' : 'dashboard.csv.no'),
        iso(r.awardedAt), iso(r.claimedAt), iso(r.revokedAt), rootReason(evaluations[i] ?? null, lang) ?? '',
      ])).join('');
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
      if (rows.length < CSV_BATCH) break;
    }
    res.end();
  });
  lti.app.get('/app/credentials/:id/learners.csv', learnersCsv);
  lti.app.get('/api/v1/credentials/:id/learners.csv', learnersCsv);

  lti.app.get('/app/credentials/:id/log', handle(async (req: Request, res: Response) => {
    const found = await staffCredential(req, res);
    if (!found) return;
    const { course, credential } = found;
    const path = `/app/credentials/${credential.id}/log`;
    const parsed = logQuery.safeParse(req.query);
    if (!parsed.success) return invalidQuery(req, res, parsed.error, credential);
    const { page } = parsed.data;
    const { entries, total } = await dashboard.log(course, credential.id, { offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    renderPage(req, res, 200, 'dashboard/log', {
      credential,
      entries: entries.map((e) => ({ ...e, actionKey: `dashboard.log.actions.${LOG_ACTION_KEYS[e.action]}` })),
      total,
      page,
      pages,
      from: entries.length ? (page - 1) * PAGE_SIZE + 1 : 0,
      to: (page - 1) * PAGE_SIZE + entries.length,
      previous: page > 1 ? sessionUrl(path, res, { page: page - 1 }) : null,
      next: page < pages ? sessionUrl(path, res, { page: page + 1 }) : null,
      back: sessionUrl(`/app/credentials/${credential.id}`, res),
    });
  }));
}
