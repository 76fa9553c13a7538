import type { Request } from 'express';
import type { PlatformContext } from './context.js';
import { param } from './http-util.js';

const CANVAS_DEFAULT_PAGE_SIZE = 10;
const CANVAS_MAX_PAGE_SIZE = 50;

export interface Page<T> {
  items: T[];
  /** Value of the Link header, if the answer is paged. */
  link?: string;
}

/** PHP's PARAM_INT: the leading integer, 0 when there is none. */
function intParam(req: Request, name: string): number {
  const value = Number.parseInt(param(req.query, name) ?? '', 10);
  return Number.isNaN(value) ? 0 : value;
}

/** UTF-8 bytes written as a latin1 string: how PHP's raw header bytes look to Node's header API. */
function rawUtf8(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

function moodleLimit(ctx: PlatformContext, req: Request): number {
  const limit = intParam(req, 'limit');
  return limit > 0 ? limit : (ctx.options.defaultPageSize ?? 0);
}

/**
 * Moodle AGS paging (gradebookservices lineitems.php / results.php): `limit` and `from` query parameters and
 * first/prev/canonical/next/last links. With quirks on, the header is byte-for-byte Moodle's: rel values in
 * curly quotes, query parameters joined by `&amp;` (moodle_url::out() escapes), `last` computed off by one.
 */
export function moodleAgsPage<T, R>(
  ctx: PlatformContext,
  req: Request,
  items: T[],
  render: (item: T) => R,
  endpoint: string,
  baseParams: Array<[string, string]>,
): Page<R> {
  const limit = moodleLimit(ctx, req);
  if (limit <= 0) return { items: items.map(render) };
  const from = intParam(req, 'from');
  const total = items.length;
  const quirks = ctx.options.moodlePagingQuirks;
  const outOfRange = from >= total || from < 0;
  const last = quirks ? Math.max(total - limit + 1, 0) : Math.max(Math.floor((total - 1) / limit) * limit, 0);
  const url = (offset: number): string => {
    const query = [...baseParams, ['limit', String(limit)], ['from', String(offset)]]
      .map(([name, value]) => `${encodeURIComponent(name!)}=${encodeURIComponent(value!)}`)
      .join(quirks ? '&amp;' : '&');
    return `${endpoint}?${query}`;
  };
  const rel = (name: string): string => (quirks ? rawUtf8(`rel=\u201c${name}\u201d`) : `rel="${name}"`);
  const links = [`<${url(0)}>; ${rel('first')}`];
  if (from > 0 && !outOfRange) links.push(`<${url(Math.max(from - limit, 0))}>; ${rel('prev')}`);
  links.push(`<${url(from)}>; ${rel('canonical')}`);
  if (from + limit <= total - 1 && !outOfRange) links.push(`<${url(from + limit)}>; ${rel('next')}`);
  links.push(`<${url(last)}>; ${rel('last')}`);
  return { items: items.slice(Math.max(from, 0), Math.max(from, 0) + limit).map(render), link: links.join(', ') };
}

/** Moodle NRPS paging (memberships.php): `limit`/`from`, and only a `next` link, built by string concatenation. */
export function moodleMembershipPage<T, R>(ctx: PlatformContext, req: Request, items: T[], render: (item: T) => R, endpoint: string): Page<R> {
  const limit = moodleLimit(ctx, req);
  if (limit <= 0) return { items: items.map(render) };
  const from = Math.max(intParam(req, 'from'), 0);
  const page = items.slice(from, from + limit).map(render);
  const more = from + limit < items.length;
  return more ? { items: page, link: `<${endpoint}?limit=${limit}&from=${from + limit}>; rel="next"` } : { items: page };
}

/** Canvas paging (Api.paginate): `page`/`per_page` (`limit` maps to per_page), links current/next/prev/first/last. */
export function canvasPage<T, R>(ctx: PlatformContext, req: Request, items: T[], render: (item: T) => R): Page<R> {
  const requested = intParam(req, 'per_page') || intParam(req, 'limit') || (ctx.options.defaultPageSize ?? CANVAS_DEFAULT_PAGE_SIZE);
  const perPage = Math.min(Math.max(requested, 1), CANVAS_MAX_PAGE_SIZE);
  const page = Math.max(intParam(req, 'page'), 1);
  const lastPage = Math.max(Math.ceil(items.length / perPage), 1);
  const link = new URL(req.originalUrl, ctx.base());
  link.searchParams.delete('limit');
  link.searchParams.set('page', String(page));
  link.searchParams.set('per_page', String(perPage));
  const url = (n: number): string => {
    link.searchParams.set('page', String(n));
    return link.toString();
  };
  const links = [`<${url(page)}>; rel="current"`];
  if (page < lastPage) links.push(`<${url(page + 1)}>; rel="next"`);
  if (page > 1) links.push(`<${url(page - 1)}>; rel="prev"`);
  links.push(`<${url(1)}>; rel="first"`, `<${url(lastPage)}>; rel="last"`);
  return { items: items.slice((page - 1) * perPage, page * perPage).map(render), link: links.join(',') };
}
