import { z } from 'zod';
import { GradebookError, pathOf } from './errors.js';
import { readAllPages, type ReadContext } from './paging.js';
import { SCOPES } from '../lti/tool-configuration.js';
import { MEDIA_TYPE, parseJsonBody, validated } from './service-http.js';
import type { ActivityProgress, GradebookLineItem, GradebookResult, GradingProgress } from './types.js';


const ACTIVITY_PROGRESS: readonly ActivityProgress[] = ['Initialized', 'Started', 'InProgress', 'Submitted', 'Completed'];
const GRADING_PROGRESS: readonly GradingProgress[] = ['FullyGraded', 'Pending', 'PendingManual', 'Failed', 'NotReady'];

/** Moodle sends '' for an absent resourceId or tag and ids as strings; some platforms send numeric ids as numbers. */
const optionalText = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((value) => (value === null || value === undefined || value === '' ? undefined : String(value)));

const lineItemJson = z.looseObject({
  id: z.string().min(1),
  label: z.string().nullish(),
  scoreMaximum: z.number().nonnegative(),
  resourceLinkId: optionalText,
  resourceId: optionalText,
  tag: optionalText,
  startDateTime: optionalText,
  endDateTime: optionalText,
});

/** A result as the platform sent it, before normalising. */
interface RawResult {
  userId: string;
  resultScore: number | null;
  resultMaximum: number | null;
  timestamp?: string;
  activityProgress?: string;
  gradingProgress?: string;
}

const MAX_ISSUES = 3;

/**
 * The results container, read by hand: it is the bulk of a course read (one entry per learner per
 * column), where a schema library costs more than parsing the JSON. Its rules:
 * - userId: a non-empty string, or a number (kept as a string);
 * - resultScore, resultMaximum: a number, or null when absent, null or not finite (JSON.parse
 *   reads 1e400 as Infinity); any other type is refused;
 * - timestamp: a string or number, '' and null meaning none;
 * - activityProgress, gradingProgress: absent or a string.
 */
function readResultContainer(body: unknown): { ok: true; value: RawResult[] } | { ok: false; issues: string[] } {
  if (!Array.isArray(body)) return { ok: false, issues: ['(body): expected an array'] };
  const value: RawResult[] = [];
  const issues: string[] = [];
  const problem = (where: string, message: string) => issues.length < MAX_ISSUES && issues.push(`${where}: ${message}`);
  const score = (raw: Record<string, unknown>, field: string, where: string): number | null => {
    const v = raw[field];
    if (v === undefined || v === null) return null;
    if (typeof v === 'number') return Number.isFinite(v) ? v : null;
    problem(`${where}.${field}`, 'must be a number');
    return null;
  };
  body.forEach((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return void problem(String(i), 'expected an object');
    const raw = item as Record<string, unknown>;
    const where = String(i);
    const user = raw.userId;
    if (!(typeof user === 'number' || (typeof user === 'string' && user !== ''))) problem(`${where}.userId`, 'must be a non-empty string or a number');
    const result: RawResult = { userId: String(user), resultScore: score(raw, 'resultScore', where), resultMaximum: score(raw, 'resultMaximum', where) };
    const timestamp = raw.timestamp;
    if (typeof timestamp === 'string' || typeof timestamp === 'number') {
      if (timestamp !== '') result.timestamp = String(timestamp);
    } else if (timestamp !== undefined && timestamp !== null) problem(`${where}.timestamp`, 'must be a string');
    for (const field of ['activityProgress', 'gradingProgress'] as const) {
      const v = raw[field];
      if (typeof v === 'string') result[field] = v;
      else if (v !== undefined) problem(`${where}.${field}`, 'must be a string');
    }
    value.push(result);
  });
  return issues.length ? { ok: false, issues } : { ok: true, value };
}

// Built once: a schema made per page costs more than parsing the page with it.
const lineItemContainer = z.array(lineItemJson);

export interface LineItemFilters {
  resourceLinkId?: string;
  resourceId?: string;
  tag?: string;
}

const LINE_ITEM_FILTER_PARAMS: Record<keyof LineItemFilters, string> = { resourceLinkId: 'resource_link_id', resourceId: 'resource_id', tag: 'tag' };

/** A line item's id is where its results are read with our bearer token: it must be an absolute URL on the container's origin. */
function normaliseLineItem(item: z.infer<typeof lineItemJson>, containerUrl: string): GradebookLineItem {
  let id: URL | undefined;
  try {
    id = new URL(item.id);
  } catch {
    id = undefined;
  }
  if (id?.origin !== new URL(containerUrl).origin) {
    throw new GradebookError('bad_response', pathOf(containerUrl), 1, 200, 'a line item id is not an absolute URL on the platform\'s origin');
  }
  return {
    id: id.toString(),
    label: item.label ?? '',
    scoreMaximum: item.scoreMaximum,
    ...(item.resourceLinkId === undefined ? {} : { resourceLinkId: item.resourceLinkId }),
    ...(item.resourceId === undefined ? {} : { resourceId: item.resourceId }),
    ...(item.tag === undefined ? {} : { tag: item.tag }),
    ...(item.startDateTime === undefined ? {} : { startDateTime: item.startDateTime }),
    ...(item.endDateTime === undefined ? {} : { endDateTime: item.endDateTime }),
  };
}

export async function listLineItems(ctx: ReadContext, lineItemsUrl: string, filters: LineItemFilters = {}): Promise<GradebookLineItem[]> {
  const first = new URL(lineItemsUrl);
  for (const [field, param] of Object.entries(LINE_ITEM_FILTER_PARAMS)) {
    const value = filters[field as keyof LineItemFilters];
    if (value !== undefined) first.searchParams.set(param, value);
  }
  first.searchParams.set('limit', String(ctx.pageSize));
  return readAllPages(
    {
      firstUrl: first.toString(),
      carriedParams: Object.values(LINE_ITEM_FILTER_PARAMS),
      readPage: async (url, call) => {
        const { body, link } = await ctx.reader.getJson(url, { accept: MEDIA_TYPE.lineItemContainer, scope: SCOPES.lineItemReadOnly, schema: lineItemContainer }, call);
        return { items: body.map((item) => normaliseLineItem(item, url)), link };
      },
    },
    ctx,
    ctx.call,
  );
}

/**
 * The results container of a line item: `/results` appended to its path, its query kept
 * (Moodle's line item URLs carry `?type_id=…`).
 */
export function resultsUrl(lineItemUrl: string): URL {
  const url = new URL(lineItemUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/results`;
  return url;
}

export interface UserResult {
  userId: string;
  result: GradebookResult;
}

function isoTimestamp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/**
 * Moodle rescales scores to the line item's maximum and sends resultMaximum; Canvas sends the score
 * as posted with the posted maximum. Either way the pair is kept together; without resultMaximum the
 * line item's scoreMaximum is the scale.
 */
function normaliseResult(raw: RawResult, lineItem: Pick<GradebookLineItem, 'id' | 'scoreMaximum'>): UserResult {
  const maximum = raw.resultMaximum !== null && raw.resultMaximum >= 0 ? raw.resultMaximum : lineItem.scoreMaximum;
  const timestamp = isoTimestamp(raw.timestamp);
  const activityProgress = ACTIVITY_PROGRESS.find((p) => p === raw.activityProgress);
  const gradingProgress = GRADING_PROGRESS.find((p) => p === raw.gradingProgress);
  return {
    userId: raw.userId,
    result: {
      lineItemId: lineItem.id,
      score: raw.resultScore,
      maximum,
      ...(timestamp === undefined ? {} : { timestamp }),
      ...(activityProgress === undefined ? {} : { activityProgress }),
      ...(gradingProgress === undefined ? {} : { gradingProgress }),
    },
  };
}

export interface ResultsQuery {
  userId?: string;
  /**
   * Send `limit` on course-wide reads (default true). Moodle's results.php fails on a request that has
   * both `limit` and `type_id` (docs/gradebook.md), so for Moodle this should be false.
   */
  sendLimit?: boolean;
}

/**
 * Results of one line item, one per user who has one; a user without a result has not attempted it.
 * With `userId`, only that user's, and without `limit`: one result at most, so one request.
 */
export async function listResults(ctx: ReadContext, lineItem: Pick<GradebookLineItem, 'id' | 'scoreMaximum'>, query: ResultsQuery = {}): Promise<UserResult[]> {
  const first = resultsUrl(lineItem.id);
  if (query.userId !== undefined) first.searchParams.set('user_id', query.userId);
  else if (query.sendLimit ?? true) first.searchParams.set('limit', String(ctx.pageSize));
  const results = await readAllPages(
    {
      firstUrl: first.toString(),
      carriedParams: ['user_id'],
      readPage: async (url, call) => {
        const { body, link } = await ctx.reader.getJson(url, { accept: MEDIA_TYPE.resultContainer, scope: SCOPES.resultReadOnly, schema: readResultContainer }, call);
        return { items: body.map((raw) => normaliseResult(raw, lineItem)), link };
      },
    },
    ctx,
    ctx.call,
  );
  // A platform that ignores user_id would hand back everyone's.
  return query.userId === undefined ? results : results.filter((r) => r.userId === query.userId);
}

/** The scores endpoint of a line item: its path plus /scores, keeping its query (Moodle's type_id). */
export function scoresUrl(lineItemUrl: string): URL {
  const url = new URL(lineItemUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/scores`;
  return url;
}

export interface NewLineItem {
  label: string;
  scoreMaximum: number;
  resourceId: string;
  tag: string;
}

/** The line item with this resourceId, created on the platform if it has none yet. */
export async function ensureLineItem(ctx: ReadContext, lineItemsUrl: string, wanted: NewLineItem): Promise<GradebookLineItem> {
  const [existing] = await listLineItems(ctx, lineItemsUrl, { resourceId: wanted.resourceId });
  if (existing) return existing;
  const answer = await ctx.reader.postJson(lineItemsUrl, { scope: SCOPES.lineItem, contentType: MEDIA_TYPE.lineItem, body: wanted }, ctx.call);
  return normaliseLineItem(validated(lineItemJson, parseJsonBody(answer, lineItemsUrl), lineItemsUrl, answer), lineItemsUrl);
}

export interface ScorePost {
  userId: string;
  scoreGiven: number;
  scoreMaximum: number;
  timestamp: string;
  comment?: string;
}

/** Posts a final, graded score (AGS Score service). */
export async function postScore(ctx: ReadContext, lineItemUrl: string, score: ScorePost): Promise<void> {
  await ctx.reader.postJson(scoresUrl(lineItemUrl).toString(), {
    scope: SCOPES.score,
    contentType: MEDIA_TYPE.score,
    body: { ...score, activityProgress: 'Completed', gradingProgress: 'FullyGraded' },
  }, ctx.call);
}
