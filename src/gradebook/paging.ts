import { GradebookError, pathOf } from './errors.js';
import type { CallContext, ServiceCaller } from './service-http.js';

export interface WebLink {
  /** Absolute, resolved against the URL of the answer that carried it. */
  url: string;
  /** Lower-cased relation types. */
  rels: string[];
}

/**
 * Parses an RFC 8288 Link header, tolerating what Moodle sends: rel values in curly quotes
 * (`rel=“next”`) and URLs HTML-escaped by moodle_url::out() (`&amp;` between parameters).
 * Header bytes reach us one character per byte, and the curly quotes arrive as UTF-8 bytes (from
 * Moodle) or doubly encoded (from the emulator), so an unquoted value is read without any
 * character outside printable ASCII: relation types are ASCII. Links that cannot be read are skipped.
 */
export function parseLinkHeader(header: string, base: string): WebLink[] {
  const links: WebLink[] = [];
  let i = 0;
  const skipSpaces = () => {
    while (i < header.length && /\s/.test(header[i]!)) i++;
  };
  while (i < header.length) {
    const open = header.indexOf('<', i);
    if (open < 0) break;
    const close = header.indexOf('>', open + 1);
    if (close < 0) break;
    const target = header.slice(open + 1, close).trim().replace(/&amp;/g, '&');
    i = close + 1;
    const params = new Map<string, string>();
    for (;;) {
      skipSpaces();
      if (header[i] !== ';') break;
      i++;
      skipSpaces();
      const name = /^[^=;,\s]*/.exec(header.slice(i))![0].toLowerCase();
      i += name.length;
      skipSpaces();
      let value = '';
      if (header[i] === '=') {
        i++;
        skipSpaces();
        if (header[i] === '"') {
          for (i++; i < header.length && header[i] !== '"'; i++) {
            if (header[i] === '\\') i++;
            value += header[i] ?? '';
          }
          i++;
        } else {
          const raw = /^[^;,]*/.exec(header.slice(i))![0];
          i += raw.length;
          value = raw.replace(/[^\x20-\x7e]/g, '').trim();
        }
      }
      // RFC 8288 §3: only the first occurrence of a parameter counts.
      if (name && !params.has(name)) params.set(name, value);
    }
    let url: string;
    try {
      url = new URL(target, base).toString();
    } catch {
      continue;
    }
    const rels = (params.get('rel') ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    links.push({ url, rels });
  }
  return links;
}

export function nextPageUrl(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  return parseLinkHeader(header, base).find((link) => link.rels.includes('next'))?.url;
}

export interface PagedRead<T> {
  firstUrl: string;
  /** Query parameters that must stay on every page. Moodle's NRPS `next` link drops the `role` filter. */
  carriedParams: readonly string[];
  readPage(url: string, call: CallContext): Promise<{ items: T[]; link: string | null }>;
}

export interface PagingLimits {
  maxPages: number;
}

/** Every page, following `rel="next"` from the first URL. Fails rather than return part of a collection. */
export async function readAllPages<T>(read: PagedRead<T>, limits: PagingLimits, call: CallContext): Promise<T[]> {
  const first = new URL(read.firstUrl);
  const items: T[] = [];
  const seen = new Set<string>();
  let url: string | undefined = first.toString();
  while (url !== undefined) {
    if (seen.has(url)) throw new GradebookError('bad_response', pathOf(url), 1, undefined, 'paging loops back to a page already read');
    if (seen.size >= limits.maxPages) throw new GradebookError('bad_response', pathOf(url), 1, undefined, `more than ${limits.maxPages} pages`);
    seen.add(url);
    const page = await read.readPage(url, call);
    call.stats.pages += 1;
    items.push(...page.items);
    const next = nextPageUrl(page.link, url);
    url = next === undefined ? undefined : withCarriedParams(next, first, read.carriedParams);
    // The bearer token goes with every page: never to another origin.
    if (url !== undefined && new URL(url).origin !== first.origin) {
      throw new GradebookError('bad_response', pathOf(url), 1, undefined, 'the next page is on another origin');
    }
  }
  return items;
}

function withCarriedParams(next: string, first: URL, names: readonly string[]): string {
  const url = new URL(next);
  for (const name of names) {
    const value = first.searchParams.get(name);
    if (value !== null && !url.searchParams.has(name)) url.searchParams.set(name, value);
  }
  return url.toString();
}

/** How AGS/NRPS collections are read from one platform. */
export interface ReadSettings {
  reader: ServiceCaller;
  /** Sent as `limit`: Moodle does not page without it, Canvas pages by 10 unless told. */
  pageSize: number;
  maxPages: number;
}

/** One read in progress: the settings and its call context. */
export interface ReadContext extends ReadSettings {
  call: CallContext;
}
