import type { Express, Request, Response } from 'express';
import type { PlatformContext } from './context.js';
import { isGradable } from './flavor.js';
import { isRecord, mediaType, param } from './http-util.js';
import { canvasPage, moodleAgsPage, type Page } from './paging.js';
import { authorizeService, serviceError, type ServiceCaller } from './service-auth.js';
import type { GradeRecord, LineItemRecord } from './store.js';
import type { LineItem, LineItemInput, RegisteredTool, ScoreInput, StoredScore } from './types.js';
import { ACTIVITY_PROGRESS, GRADING_PROGRESS, MEDIA_TYPE, SCOPE } from './vocabulary.js';

const CANVAS_SUBMISSION = 'https://canvas.instructure.com/lti/submission';
const LINE_ITEM_FIELDS = ['label', 'scoreMaximum', 'resourceLinkId', 'resourceId', 'tag', 'startDateTime', 'endDateTime', 'id'];

function lineItemUrl(ctx: PlatformContext, li: LineItemRecord, tool: RegisteredTool | undefined): string {
  return ctx.profile.lineItemUrl(ctx.base(), li.courseId, li.number, tool);
}

/** A line item as the flavor serialises it (gradebookservices::item_for_json / Canvas LineItemsSerializer). */
function lineItemJson(ctx: PlatformContext, li: LineItemRecord, tool: RegisteredTool | undefined): Record<string, unknown> {
  const id = lineItemUrl(ctx, li, tool);
  if (ctx.profile.flavor === 'moodle') {
    return {
      id,
      label: li.label,
      scoreMaximum: li.scoreMaximum,
      resourceId: li.resourceId ?? '',
      tag: li.tag ?? '',
      ...(li.resourceLinkId ? { resourceLinkId: li.resourceLinkId, ltiLinkId: li.resourceLinkId } : {}),
    };
  }
  return {
    id,
    scoreMaximum: li.scoreMaximum,
    label: li.label,
    ...(li.resourceId ? { resourceId: li.resourceId } : {}),
    ...(li.tag ? { tag: li.tag } : {}),
    ...(li.resourceLinkId ? { resourceLinkId: li.resourceLinkId } : {}),
    ...(li.startDateTime ? { startDateTime: li.startDateTime } : {}),
    ...(li.endDateTime ? { endDateTime: li.endDateTime } : {}),
    ...li.extensions,
  };
}

export function publicLineItem(ctx: PlatformContext, li: LineItemRecord): LineItem {
  const tool = li.toolClientId ? ctx.store.tools.get(li.toolClientId) : undefined;
  return {
    id: lineItemUrl(ctx, li, tool),
    label: li.label,
    scoreMaximum: li.scoreMaximum,
    ...(li.resourceLinkId ? { resourceLinkId: li.resourceLinkId } : {}),
    ...(li.resourceId ? { resourceId: li.resourceId } : {}),
    ...(li.tag ? { tag: li.tag } : {}),
    ...(li.startDateTime ? { startDateTime: li.startDateTime } : {}),
    ...(li.endDateTime ? { endDateTime: li.endDateTime } : {}),
  };
}

/** PHP date('c'): seconds precision, numeric offset. */
function phpIsoDate(timestamp: string): string {
  return new Date(timestamp).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** Moodle rescales the score to the line item maximum before storing it. */
function moodleFinalGrade(li: LineItemRecord, grade: GradeRecord): number | null {
  if (grade.scoreGiven === null) return null;
  if (grade.scoreMaximum === li.scoreMaximum || grade.scoreMaximum === 0) return grade.scoreGiven;
  return (grade.scoreGiven * li.scoreMaximum) / grade.scoreMaximum;
}

/** `itemUrl` is the line item's URL for this tool, made once per page rather than per result. */
function resultJson(ctx: PlatformContext, li: LineItemRecord, grade: GradeRecord, tool: RegisteredTool, itemUrl: string): Record<string, unknown> {
  if (ctx.profile.flavor === 'moodle') {
    const endpoint = itemUrl.split('?')[0]!;
    const result: Record<string, unknown> = { id: `${endpoint}/results?type_id=${tool.toolTypeId}&user_id=${grade.userId}`, userId: grade.userId };
    const finalGrade = moodleFinalGrade(li, grade);
    // result_for_json() tests !empty($grade->finalgrade): a grade of 0 comes back without any score fields.
    if (finalGrade) {
      result.resultScore = finalGrade;
      result.resultMaximum = li.scoreMaximum;
      if (grade.comment) result.comment = grade.comment;
      result.scoreOf = itemUrl;
      result.timestamp = phpIsoDate(grade.timestamp);
    }
    return result;
  }
  return {
    id: `${itemUrl}/results/${grade.resultNumber}`,
    scoreOf: itemUrl,
    userId: grade.userId,
    ...(grade.scoreGiven === null ? {} : { resultScore: grade.scoreGiven }),
    resultMaximum: grade.scoreMaximum,
    ...(grade.comment ? { comment: grade.comment } : {}),
  };
}

function lineItemProblem(body: Record<string, unknown>, partial: boolean): string | undefined {
  if (!partial || body.label !== undefined) {
    if (typeof body.label !== 'string' || body.label.trim() === '') return 'label is required';
  }
  if (!partial || body.scoreMaximum !== undefined) {
    if (typeof body.scoreMaximum !== 'number' || !(body.scoreMaximum > 0)) return 'scoreMaximum must be a number greater than 0';
  }
  for (const name of ['resourceLinkId', 'resourceId', 'tag', 'startDateTime', 'endDateTime']) {
    if (body[name] !== undefined && typeof body[name] !== 'string') return `${name} must be a string`;
  }
  for (const name of ['startDateTime', 'endDateTime']) {
    if (typeof body[name] === 'string' && Number.isNaN(Date.parse(body[name] as string))) return `${name} must be an ISO 8601 date`;
  }
  return undefined;
}

function isIsoTimestamp(value: unknown): value is string {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value) && !Number.isNaN(Date.parse(value));
}

function scoreProblem(body: Record<string, unknown>): string | undefined {
  if (typeof body.userId !== 'string' || body.userId === '') return 'userId is required';
  if (!isIsoTimestamp(body.timestamp)) return 'timestamp must be an ISO 8601 date-time';
  if (typeof body.activityProgress !== 'string' || !ACTIVITY_PROGRESS.includes(body.activityProgress)) {
    return `activityProgress must be one of ${ACTIVITY_PROGRESS.join(', ')}`;
  }
  if (typeof body.gradingProgress !== 'string' || !GRADING_PROGRESS.includes(body.gradingProgress)) {
    return `gradingProgress must be one of ${GRADING_PROGRESS.join(', ')}`;
  }
  if (body.scoreGiven !== undefined && body.scoreGiven !== null) {
    if (typeof body.scoreGiven !== 'number' || body.scoreGiven < 0) return 'scoreGiven must be a number >= 0';
    if (body.scoreMaximum === undefined) return 'scoreMaximum is required when scoreGiven is present';
  }
  if (body.scoreMaximum !== undefined && (typeof body.scoreMaximum !== 'number' || !(body.scoreMaximum > 0))) {
    return 'scoreMaximum must be a number greater than 0';
  }
  if (body.comment !== undefined && body.comment !== null && typeof body.comment !== 'string') return 'comment must be a string';
  if (body[CANVAS_SUBMISSION] !== undefined && !isRecord(body[CANVAS_SUBMISSION])) return `${CANVAS_SUBMISSION} must be an object`;
  return undefined;
}

export function createLineItem(ctx: PlatformContext, courseId: string, input: LineItemInput, extensions: Record<string, unknown> = {}): LineItemRecord {
  const record: LineItemRecord = {
    number: ctx.store.next('lineItem'),
    courseId,
    label: input.label,
    scoreMaximum: input.scoreMaximum,
    ...(input.resourceLinkId ? { resourceLinkId: input.resourceLinkId } : {}),
    ...(input.resourceId ? { resourceId: input.resourceId } : {}),
    ...(input.tag ? { tag: input.tag } : {}),
    ...(input.startDateTime ? { startDateTime: input.startDateTime } : {}),
    ...(input.endDateTime ? { endDateTime: input.endDateTime } : {}),
    ...(input.toolClientId ? { toolClientId: input.toolClientId } : {}),
    extensions,
  };
  ctx.store.lineItems.set(record.number, record);
  return record;
}

export function storeScore(ctx: PlatformContext, li: LineItemRecord, score: StoredScore): void {
  const grades = ctx.store.gradesOf(li.number);
  const resultNumber = grades.get(score.userId)?.resultNumber ?? ctx.store.next('result');
  grades.set(score.userId, { ...score, resultNumber });
}

export function scoreFromInput(li: LineItemRecord, userId: string, input: ScoreInput): StoredScore {
  return {
    userId,
    scoreGiven: input.scoreGiven,
    scoreMaximum: input.scoreMaximum ?? li.scoreMaximum,
    activityProgress: input.activityProgress ?? 'Completed',
    gradingProgress: input.gradingProgress ?? 'FullyGraded',
    timestamp: input.timestamp ?? new Date().toISOString(),
    ...(input.comment ? { comment: input.comment } : {}),
  };
}

interface AgsRequest {
  caller: ServiceCaller;
  courseId: string;
}

function sendPage(res: Response, page: Page<unknown>, contentType: string): void {
  if (page.link) res.set('Link', page.link);
  res.status(200).type(contentType).send(JSON.stringify(page.items));
}

/**
 * Moodle's services.php matches media types literally: a GET must send no Accept or exactly the resource's
 * type (a wildcard gets past routing but is then refused), a write must send exactly the expected Content-Type.
 */
function moodleMediaTypeOk(req: Request, expected: string): boolean {
  if (req.method === 'GET') {
    const accept = req.get('accept');
    return accept === undefined || accept === '' || accept === expected;
  }
  return req.get('content-type') === expected;
}

function canvasMediaTypeOk(req: Request, expected: string): boolean {
  if (req.method === 'GET' || req.method === 'DELETE') return true;
  const type = mediaType(req.get('content-type'));
  return type === expected || type === 'application/json';
}

/** Token, scope, tool binding, media type and course checks in the order the flavor applies them. */
function begin(ctx: PlatformContext, req: Request, res: Response, anyOfScopes: readonly string[], mediaTypeExpected: string): AgsRequest | undefined {
  const caller = authorizeService(ctx, req, res, anyOfScopes);
  if (!caller) return undefined;
  if (ctx.profile.flavor === 'moodle' && param(req.query, 'type_id') !== caller.tool.toolTypeId) {
    serviceError(ctx, req, res, 401, 'type_id does not match the tool of the access token');
    return undefined;
  }
  const mediaTypeOk = ctx.profile.flavor === 'moodle' ? moodleMediaTypeOk : canvasMediaTypeOk;
  if (req.method !== 'DELETE' && !mediaTypeOk(req, mediaTypeExpected)) {
    serviceError(ctx, req, res, 400, 'No context or unsupported content type');
    return undefined;
  }
  const courseId = req.params.courseId!;
  if (!ctx.store.courses.has(courseId)) {
    serviceError(ctx, req, res, 404, `Not Found: Course ${courseId} doesn't exist`);
    return undefined;
  }
  return { caller, courseId };
}

function findLineItem(ctx: PlatformContext, req: Request, res: Response, r: AgsRequest): LineItemRecord | undefined {
  const li = ctx.store.lineItems.get(Number(req.params.itemId));
  if (!li || li.courseId !== r.courseId) {
    serviceError(ctx, req, res, 404, `Not Found: Grade item ${req.params.itemId} doesn't exist`);
    return undefined;
  }
  if (li.toolClientId !== undefined && li.toolClientId !== r.caller.tool.clientId) {
    serviceError(ctx, req, res, ctx.profile.flavor === 'moodle' ? 403 : 404, 'Line item does not exist');
    return undefined;
  }
  return li;
}

function listLineItems(ctx: PlatformContext, req: Request, res: Response): void {
  const r = begin(ctx, req, res, [SCOPE.lineItem, SCOPE.lineItemReadOnly], MEDIA_TYPE.lineItemContainer);
  if (!r) return;
  const resourceLinkId = param(req.query, 'resource_link_id') ?? param(req.query, 'lti_link_id');
  const resourceId = param(req.query, 'resource_id');
  const tag = param(req.query, 'tag');
  const items = ctx.store
    .lineItemsVisibleTo(r.courseId, r.caller.tool.clientId)
    .filter((li) => resourceLinkId === undefined || li.resourceLinkId === resourceLinkId)
    .filter((li) => resourceId === undefined || (li.resourceId ?? '') === resourceId)
    .filter((li) => tag === undefined || (li.tag ?? '') === tag);
  const tool = r.caller.tool;
  const render = (li: LineItemRecord) => lineItemJson(ctx, li, tool);
  const page =
    ctx.profile.flavor === 'moodle'
      ? moodleAgsPage(ctx, req, items, render, ctx.profile.lineItemsUrl(ctx.base(), r.courseId, tool).split('?')[0]!, [
          ...(resourceId === undefined ? [] : [['resource_id', resourceId] as [string, string]]),
          ...(resourceLinkId === undefined ? [] : [['resource_link_id', resourceLinkId] as [string, string]]),
          ...(tag === undefined ? [] : [['tag', tag] as [string, string]]),
          ['type_id', tool.toolTypeId],
        ])
      : canvasPage(ctx, req, items, render);
  sendPage(res, page, MEDIA_TYPE.lineItemContainer);
}

function createLineItemFromRequest(ctx: PlatformContext, req: Request, res: Response): void {
  const r = begin(ctx, req, res, [SCOPE.lineItem], MEDIA_TYPE.lineItem);
  if (!r) return;
  const body: unknown = req.body;
  if (!isRecord(body)) return serviceError(ctx, req, res, 400, 'The body must be a line item JSON object');
  const problem = lineItemProblem(body, false);
  if (problem) return serviceError(ctx, req, res, 400, problem);
  const resourceLinkId = (body.resourceLinkId ?? body.ltiLinkId) as string | undefined;
  if (resourceLinkId !== undefined) {
    const link = ctx.store.resourceLink(r.courseId, resourceLinkId);
    if (!link || link.toolClientId !== r.caller.tool.clientId) {
      return serviceError(ctx, req, res, ctx.profile.flavor === 'moodle' ? 403 : 404, `Resource link ${resourceLinkId} not found for this tool`);
    }
  }
  const extensions = Object.fromEntries(Object.entries(body).filter(([name]) => !LINE_ITEM_FIELDS.includes(name) && name !== 'ltiLinkId'));
  const li = createLineItem(
    ctx,
    r.courseId,
    { ...(body as unknown as LineItemInput), ...(resourceLinkId ? { resourceLinkId } : {}), toolClientId: r.caller.tool.clientId },
    ctx.profile.flavor === 'canvas' ? extensions : {},
  );
  if (ctx.profile.flavor === 'moodle') {
    // lineitems.php answers 201 with the request body plus the new id.
    res.status(201).type(MEDIA_TYPE.lineItem).send(JSON.stringify({ ...body, id: lineItemUrl(ctx, li, r.caller.tool) }));
    return;
  }
  res.status(200).type(MEDIA_TYPE.lineItem).send(JSON.stringify(lineItemJson(ctx, li, r.caller.tool)));
}

function showLineItem(ctx: PlatformContext, req: Request, res: Response): void {
  const r = begin(ctx, req, res, [SCOPE.lineItem, SCOPE.lineItemReadOnly], MEDIA_TYPE.lineItem);
  const li = r && findLineItem(ctx, req, res, r);
  if (!r || !li) return;
  res.status(200).type(MEDIA_TYPE.lineItem).send(JSON.stringify(lineItemJson(ctx, li, r.caller.tool)));
}

function updateLineItem(ctx: PlatformContext, req: Request, res: Response): void {
  const r = begin(ctx, req, res, [SCOPE.lineItem], MEDIA_TYPE.lineItem);
  const li = r && findLineItem(ctx, req, res, r);
  if (!r || !li) return;
  const body: unknown = req.body;
  if (!isRecord(body)) return serviceError(ctx, req, res, 400, 'The body must be a line item JSON object');
  const problem = lineItemProblem(body, true);
  if (problem) return serviceError(ctx, req, res, 400, problem);
  if (typeof body.label === 'string') li.label = body.label;
  if (typeof body.scoreMaximum === 'number') li.scoreMaximum = body.scoreMaximum;
  for (const name of ['resourceId', 'tag', 'startDateTime', 'endDateTime'] as const) {
    if (typeof body[name] === 'string') li[name] = body[name] as string;
  }
  res.status(200).type(MEDIA_TYPE.lineItem).send(JSON.stringify(lineItemJson(ctx, li, r.caller.tool)));
}

function deleteLineItem(ctx: PlatformContext, req: Request, res: Response): void {
  const r = begin(ctx, req, res, [SCOPE.lineItem], MEDIA_TYPE.lineItem);
  const li = r && findLineItem(ctx, req, res, r);
  if (!r || !li) return;
  ctx.store.lineItems.delete(li.number);
  ctx.store.grades.delete(li.number);
  res.status(204).end();
}

function listResults(ctx: PlatformContext, req: Request, res: Response): void {
  const r = begin(ctx, req, res, [SCOPE.resultReadOnly], MEDIA_TYPE.resultContainer);
  const li = r && findLineItem(ctx, req, res, r);
  if (!r || !li) return;
  const userId = param(req.query, 'user_id');
  const tool = r.caller.tool;
  const grades = ctx.store.gradesOf(li.number);
  const candidates = userId === undefined ? [...grades.values()] : [grades.get(userId)].filter((g) => g !== undefined);
  const results = candidates
    // Moodle lists only grades that have been given (timemodified set); Canvas every posted score.
    .filter((g) => ctx.profile.flavor === 'canvas' || g.scoreGiven !== null);
  const itemUrl = lineItemUrl(ctx, li, tool);
  const render = (g: GradeRecord) => resultJson(ctx, li, g, tool, itemUrl);
  const page =
    ctx.profile.flavor === 'moodle'
      ? moodleAgsPage(ctx, req, results, render, ctx.profile.resultsUrl(ctx.base(), r.courseId, li.number, tool).split('?')[0]!, [
          ['type_id', tool.toolTypeId],
        ])
      : canvasPage(ctx, req, results, render);
  sendPage(res, page, MEDIA_TYPE.resultContainer);
}

function postScore(ctx: PlatformContext, req: Request, res: Response): void {
  const r = begin(ctx, req, res, [SCOPE.score], MEDIA_TYPE.score);
  const li = r && findLineItem(ctx, req, res, r);
  if (!r || !li) return;
  const body: unknown = req.body;
  if (!isRecord(body)) return serviceError(ctx, req, res, 400, 'The body must be a score JSON object');
  const problem = scoreProblem(body);
  if (problem) return serviceError(ctx, req, res, 400, `Incorrect score received: ${problem}`);
  const userId = body.userId as string;
  if (!isGradable(ctx.store.rolesOf(r.courseId, userId))) {
    // Moodle: is_user_gradable_in_course() fails → 400. Canvas: "User not found in course or is not a student" → 422.
    return ctx.profile.flavor === 'moodle'
      ? serviceError(ctx, req, res, 400, `Incorrect score received: user ${userId} is not gradable in this course`)
      : serviceError(ctx, req, res, 422, 'User not found in course or is not a student');
  }
  const timestamp = body.timestamp as string;
  const previous = ctx.store.gradesOf(li.number).get(userId);
  if (previous && isStale(ctx, previous, timestamp)) {
    return serviceError(ctx, req, res, 409, `Refusing score with an earlier timestamp for item ${li.number} and user ${userId}`);
  }
  const gradingProgress = body.gradingProgress as string;
  const scoreGiven = typeof body.scoreGiven === 'number' && countsScore(ctx, gradingProgress) ? body.scoreGiven : null;
  const submission = body[CANVAS_SUBMISSION];
  storeScore(ctx, li, {
    userId,
    scoreGiven,
    scoreMaximum: typeof body.scoreMaximum === 'number' ? body.scoreMaximum : 1,
    activityProgress: body.activityProgress as string,
    gradingProgress,
    timestamp,
    ...(typeof body.comment === 'string' && body.comment !== '' ? { comment: body.comment } : {}),
    ...(isRecord(submission) ? { submission } : {}),
  });
  if (ctx.profile.flavor === 'moodle') {
    res.status(200).type(MEDIA_TYPE.score).end();
    return;
  }
  const grade = ctx.store.gradesOf(li.number).get(userId)!;
  res.status(200).json({ resultUrl: `${lineItemUrl(ctx, li, r.caller.tool)}/results/${grade.resultNumber}` });
}

/**
 * Moodle compares whole seconds (strtotime) and refuses a timestamp that is not later than the stored grade's;
 * Canvas refuses one that is earlier than the last score's.
 */
function isStale(ctx: PlatformContext, previous: GradeRecord, timestamp: string): boolean {
  if (ctx.profile.flavor === 'moodle') {
    return previous.scoreGiven !== null && Math.floor(Date.parse(previous.timestamp) / 1000) >= Math.floor(Date.parse(timestamp) / 1000);
  }
  return Date.parse(timestamp) < Date.parse(previous.timestamp);
}

/** Moodle keeps scoreGiven only when FullyGraded; Canvas ignores it for NotReady, Failed and Pending. */
function countsScore(ctx: PlatformContext, gradingProgress: string): boolean {
  if (ctx.profile.flavor === 'moodle') return gradingProgress === 'FullyGraded';
  return !['NotReady', 'Failed', 'Pending'].includes(gradingProgress);
}

export function mountAgsRoutes(app: Express, ctx: PlatformContext): void {
  const container = ctx.profile.flavor === 'moodle' ? '/mod/lti/services.php/:courseId/lineitems' : '/api/lti/courses/:courseId/line_items';
  const item = ctx.profile.flavor === 'moodle' ? `${container}/:itemId/lineitem` : `${container}/:itemId`;
  app.get(container, (req, res) => listLineItems(ctx, req, res));
  app.post(container, (req, res) => createLineItemFromRequest(ctx, req, res));
  app.get(item, (req, res) => showLineItem(ctx, req, res));
  app.put(item, (req, res) => updateLineItem(ctx, req, res));
  app.delete(item, (req, res) => deleteLineItem(ctx, req, res));
  app.get(`${item}/results`, (req, res) => listResults(ctx, req, res));
  app.post(`${item}/scores`, (req, res) => postScore(ctx, req, res));
}
