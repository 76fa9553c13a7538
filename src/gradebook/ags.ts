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

const userId = z.union([z.string().min(1), z.number()]).transform(String);

/** A number, or null when absent, null or not finite (JSON.parse reads 1e400 as Infinity). Other types are refused. */
const optionalScore = z.unknown().optional().transform((value, ctx) => {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  ctx.addIssue({ code: 'custom', message: 'must be a number' });
  return z.NEVER;
});

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

const resultJson = z.looseObject({
  userId,
  resultScore: optionalScore,
  resultMaximum: optionalScore,
  timestamp: optionalText,
  activityProgress: z.string().optional(),
  gradingProgress: z.string().optional(),
});

// Built once: a schema made per page costs more than parsing the page with it.
const lineItemContainer = z.array(lineItemJson);
const resultContainer = z.array(resultJson);

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
function normaliseResult(raw: z.infer<typeof resultJson>, lineItem: Pick<GradebookLineItem, 'id' | 'scoreMaximum'>): UserResult {
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
        const { body, link } = await ctx.reader.getJson(url, { accept: MEDIA_TYPE.resultContainer, scope: SCOPES.resultReadOnly, schema: resultContainer }, call);
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
