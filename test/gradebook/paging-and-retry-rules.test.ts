import { resultsUrl } from '../../src/gradebook/ags.js';
import { nextPageUrl, parseLinkHeader, readAllPages } from '../../src/gradebook/paging.js';
import { backoffDelayMs, emptyStats, retryAfterMs } from '../../src/gradebook/service-http.js';

const BASE = 'https://lms.example/api/lti/courses/7/line_items?page=1';
/** Header bytes as Node's fetch hands them over: one character per byte. */
const asHeaderBytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

describe('Link header (RFC 8288, and Moodle as it is)', () => {
  test('several links, quoted and multiple rel values, commas inside URLs and quotes, relative targets', () => {
    const header = '<https://lms.example/a?x=1,2>; rel="next last"; title="a, b", </b>; rel=prev;rel=next, <c>; REL="First"';
    expect(parseLinkHeader(header, BASE)).toEqual([
      { url: 'https://lms.example/a?x=1,2', rels: ['next', 'last'] },
      // Only the first rel counts.
      { url: 'https://lms.example/b', rels: ['prev'] },
      { url: 'https://lms.example/api/lti/courses/7/c', rels: ['first'] },
    ]);
    expect(nextPageUrl(header, BASE)).toBe('https://lms.example/a?x=1,2');
  });

  test('Moodle: curly-quoted rel values and &amp; between parameters, as bytes on the wire or decoded', () => {
    const moodle = '<https://moodle.example/mod/lti/services.php/2/lineitems?type_id=1&amp;limit=4&amp;from=0>; rel=“first”, '
      + '<https://moodle.example/mod/lti/services.php/2/lineitems?type_id=1&amp;limit=4&amp;from=4>; rel=“next”';
    const next = 'https://moodle.example/mod/lti/services.php/2/lineitems?type_id=1&limit=4&from=4';
    expect(nextPageUrl(asHeaderBytes(moodle), BASE)).toBe(next);
    expect(nextPageUrl(moodle, BASE)).toBe(next);
    expect(nextPageUrl(asHeaderBytes(asHeaderBytes(moodle)), BASE)).toBe(next);
  });

  test('no next link, no header, or nothing readable', () => {
    expect(nextPageUrl('<https://lms.example/a>; rel="prev"', BASE)).toBeUndefined();
    expect(nextPageUrl(null, BASE)).toBeUndefined();
    expect(nextPageUrl('rel="next"', BASE)).toBeUndefined();
    expect(nextPageUrl('<http://[bad>; rel="next"', BASE)).toBeUndefined();
  });
});

describe('following pages', () => {
  /** Pages served from a table of URL → next link, each page holding its own URL as its one item. */
  const follow = (links: Record<string, string | null>, maxPages = 10) => {
    const call = { stats: emptyStats() };
    const reading = readAllPages({
      firstUrl: 'https://lms.example/items?role=Learner&limit=2',
      carriedParams: ['role'],
      readPage: async (url) => ({ items: [url], link: links[url] ?? null }),
    }, { maxPages }, call);
    return { reading, call };
  };

  test('to the end, putting back a filter the next link dropped', async () => {
    const { reading, call } = follow({
      'https://lms.example/items?role=Learner&limit=2': '<https://lms.example/items?limit=2&from=2>; rel="next"',
      'https://lms.example/items?limit=2&from=2&role=Learner': null,
    });
    expect(await reading).toEqual(['https://lms.example/items?role=Learner&limit=2', 'https://lms.example/items?limit=2&from=2&role=Learner']);
    expect(call.stats.pages).toBe(2);
  });

  test.each<[string, Record<string, string>, number, string]>([
    ['a next link back to a page already read', {
      'https://lms.example/items?role=Learner&limit=2': '<https://lms.example/items?limit=2&from=2>; rel="next"',
      'https://lms.example/items?limit=2&from=2&role=Learner': '<https://lms.example/items?role=Learner&limit=2>; rel="next"',
    }, 10, 'paging loops back'],
    ['a next page on another origin (the bearer token would go with it)', {
      'https://lms.example/items?role=Learner&limit=2': '<https://elsewhere.example/items?from=2>; rel="next"',
    }, 10, 'another origin'],
    ['more pages than allowed', {
      'https://lms.example/items?role=Learner&limit=2': '<https://lms.example/items?from=2>; rel="next"',
      'https://lms.example/items?from=2&role=Learner': '<https://lms.example/items?from=4>; rel="next"',
    }, 2, 'more than 2 pages'],
  ])('fails on %s', async (_case, links, maxPages, message) => {
    await expect(follow(links, maxPages).reading).rejects.toMatchObject({ kind: 'bad_response', message: expect.stringContaining(message) });
  });
});

describe('retry timing', () => {
  test('Retry-After in seconds or as an HTTP-date', () => {
    const now = Date.parse('2026-10-01T09:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2_000);
    expect(retryAfterMs('Thu, 01 Oct 2026 09:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Thu, 01 Oct 2026 08:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  test('full jitter under an exponential ceiling, capped', () => {
    const options = { baseDelayMs: 250, maxDelayMs: 8_000 };
    const almostOne = () => 0.999_999;
    expect([1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffDelayMs(attempt, { ...options, random: almostOne }))).toEqual([249, 499, 999, 1_999, 3_999, 7_999, 7_999]);
    expect(backoffDelayMs(3, { ...options, random: () => 0 })).toBe(0);
  });
});

test('a results URL is the line item URL with /results on its path, its query kept', () => {
  expect(resultsUrl('https://moodle.example/mod/lti/services.php/2/lineitems/5/lineitem?type_id=1').toString())
    .toBe('https://moodle.example/mod/lti/services.php/2/lineitems/5/lineitem/results?type_id=1');
  expect(resultsUrl('https://canvas.example/api/lti/courses/7/line_items/5/').toString()).toBe('https://canvas.example/api/lti/courses/7/line_items/5/results');
});
