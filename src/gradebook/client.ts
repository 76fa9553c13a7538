import type { LtijsProvider } from 'ltijs';
import { AccessTokenCache, loadPlatformCredentials, type PlatformCredentials } from './access-tokens.js';
import { ensureLineItem, listLineItems, listResults, postScore, type LineItemFilters, type NewLineItem, type ScorePost, type UserResult } from './ags.js';
import { listMembers, type MembersQuery } from './nrps.js';
import type { ReadSettings } from './paging.js';
import { DEFAULT_HTTP_OPTIONS, emptyStats, PlatformHttp, ServiceCaller, type HttpOptions } from './service-http.js';
import {
  fetchCourseGradebook,
  fetchLearnerSnapshot,
  type CourseGradebook,
  type FetchedLearnerSnapshot,
  type LearnerSnapshotQuery,
} from './snapshot.js';
import type { GradebookLineItem, RosterMember } from './types.js';

export interface GradebookClientOptions extends Partial<HttpOptions> {
  /** `limit` asked for on paged reads; default 100. */
  pageSize?: number;
  /** A collection with more pages than this is refused; default 10,000. */
  maxPages?: number;
  /** How long before its expiry an access token is replaced; default 30 s. */
  tokenExpiryMarginMs?: number;
  /** Send `limit` on course-wide results reads; default true. Set false for Moodle (docs/gradebook.md). */
  limitResults?: boolean;
}

const DEFAULTS = { pageSize: 100, maxPages: 10_000, tokenExpiryMarginMs: 30_000, limitResults: true };

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, not ${value}`);
}

/**
 * Reads one platform's gradebook (AGS) and rosters (NRPS) for the tool. It holds that platform's
 * access tokens and its concurrency limit, so keep one per platform (see GradebookClients).
 */
export class GradebookClient {
  private readonly settings: ReadSettings;
  private readonly limitResults: boolean;
  private credentials: Promise<PlatformCredentials> | undefined;

  constructor(
    private readonly lti: LtijsProvider,
    readonly issuer: string,
    readonly clientId: string,
    options: GradebookClientOptions = {},
  ) {
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as GradebookClientOptions;
    const { pageSize, maxPages, tokenExpiryMarginMs, limitResults, ...http } = { ...DEFAULTS, ...given };
    const httpOptions: HttpOptions = { ...DEFAULT_HTTP_OPTIONS, ...http };
    checkPositiveInteger('pageSize', pageSize);
    checkPositiveInteger('maxPages', maxPages);
    checkPositiveInteger('concurrency', httpOptions.concurrency);
    checkPositiveInteger('maxAttempts', httpOptions.maxAttempts);
    checkPositiveInteger('timeoutMs', httpOptions.timeoutMs);
    const platformHttp = new PlatformHttp(httpOptions);
    const tokens = new AccessTokenCache(platformHttp, tokenExpiryMarginMs);
    this.settings = { reader: new ServiceCaller(platformHttp, tokens, () => this.platformCredentials()), pageSize, maxPages };
    this.limitResults = limitResults;
  }

  listLineItems(lineItemsUrl: string, filters?: LineItemFilters): Promise<GradebookLineItem[]> {
    return listLineItems({ ...this.settings, call: { stats: emptyStats() } }, lineItemsUrl, filters);
  }

  /** Takes the line item, not only its URL: a result without resultMaximum is on the line item's scoreMaximum. */
  listResults(lineItem: Pick<GradebookLineItem, 'id' | 'scoreMaximum'>, query: { userId?: string } = {}): Promise<UserResult[]> {
    return listResults({ ...this.settings, call: { stats: emptyStats() } }, lineItem, { ...query, sendLimit: this.limitResults });
  }

  /** The line item with this resourceId, created if the platform has none yet (needs the lineitem scope). */
  ensureLineItem(lineItemsUrl: string, wanted: NewLineItem): Promise<GradebookLineItem> {
    return ensureLineItem({ ...this.settings, call: { stats: emptyStats() } }, lineItemsUrl, wanted);
  }

  /** Posts a final score for a learner (needs the score scope). */
  postScore(lineItemUrl: string, score: ScorePost): Promise<void> {
    return postScore({ ...this.settings, call: { stats: emptyStats() } }, lineItemUrl, score);
  }

  listMembers(contextMembershipsUrl: string, query?: MembersQuery): Promise<RosterMember[]> {
    return listMembers({ ...this.settings, call: { stats: emptyStats() } }, contextMembershipsUrl, query);
  }

  fetchLearnerSnapshot(query: LearnerSnapshotQuery): Promise<FetchedLearnerSnapshot> {
    return fetchLearnerSnapshot(this.settings, query);
  }

  fetchCourseGradebook(query: { lineItemsUrl: string; membershipsUrl: string }): Promise<CourseGradebook> {
    return fetchCourseGradebook(this.settings, { ...query, sendResultsLimit: this.limitResults });
  }

  /** Read from ltijs once; a failed read is retried on the next call. */
  private platformCredentials(): Promise<PlatformCredentials> {
    this.credentials ??= loadPlatformCredentials(this.lti, this.issuer, this.clientId).catch((error: unknown) => {
      this.credentials = undefined;
      throw error;
    });
    return this.credentials;
  }
}

/** One GradebookClient per platform, so every read of a platform shares its tokens and its concurrency limit. */
export class GradebookClients {
  private readonly clients = new Map<string, GradebookClient>();

  constructor(
    private readonly lti: LtijsProvider,
    private readonly options: GradebookClientOptions = {},
  ) {}

  /** `productFamily` from the registration: Moodle's results endpoint fails when asked for pages (docs/gradebook.md). */
  forPlatform(issuer: string, clientId: string, productFamily: string | null = null): GradebookClient {
    const key = `${issuer}\n${clientId}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new GradebookClient(this.lti, issuer, clientId, productFamily === 'moodle' ? { ...this.options, limitResults: false } : this.options);
      this.clients.set(key, client);
    }
    return client;
  }
}
