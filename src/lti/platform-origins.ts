import { isDatabaseUnavailable } from '../db/availability.js';
import type { Db } from '../db/database.js';

/** Another instance's new platform shows here within this time (from the request after); this instance's at once. */
const CACHE_MS = 5_000;

function originOf(url: unknown): string | undefined {
  if (typeof url !== 'string' || !URL.canParse(url)) return undefined;
  const { protocol, origin } = new URL(url);
  return protocol === 'https:' || protocol === 'http:' ? origin : undefined;
}

/**
 * The origins registered platforms serve their pages from, for CSP frame-ancestors. A platform's
 * issuer is one (Moodle); Canvas's issuer is not, so the origins its signed launches name (return
 * URLs, service endpoints) are recorded too.
 */
export class PlatformOrigins {
  private cached: { at: number; origins: string[] } | undefined;
  private refreshing: Promise<string[]> | undefined;

  constructor(private readonly db: Db) {}

  /** Records the origins a verified launch names. */
  async recordLaunch(issuer: string, clientId: string, claims: Record<string, unknown>): Promise<void> {
    const claim = (name: string) => (claims[name] ?? {}) as Record<string, unknown>;
    const origins = new Set([
      originOf(issuer),
      originOf(claim('https://purl.imsglobal.org/spec/lti/claim/launch_presentation').return_url),
      originOf(claim('https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings').deep_link_return_url),
      originOf(claim('https://purl.imsglobal.org/spec/lti-ags/claim/endpoint').lineitems),
      originOf(claim('https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice').context_memberships_url),
    ].filter((o): o is string => o !== undefined));
    if (origins.size === 0) return;
    const inserted = await this.db.insertInto('platform_origin')
      .values([...origins].map((origin) => ({ issuer, client_id: clientId, origin })))
      .onConflict((oc) => oc.doNothing()).returning('origin').execute();
    if (inserted.length) this.cached = undefined;
  }

  /** Drops the cached list: a platform was registered or removed. */
  forget(): void {
    this.cached = undefined;
  }

  /** Every registered platform's origins, deduplicated. */
  async all(): Promise<string[]> {
    const cached = this.cached;
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.origins;
    this.refreshing ??= this.lookup().finally(() => {
      this.refreshing = undefined;
    });
    if (!cached) return this.refreshing;
    // Past its time, the list still answers while the new one is read: no response waits on the
    // database for its CSP, not even /healthz while the database hangs. A failure other than an
    // outage shows on the next request, which then waits for the lookup.
    this.refreshing.catch(() => {
      this.cached = undefined;
    });
    return cached.origins;
  }

  private async lookup(): Promise<string[]> {
    let platforms, recorded;
    try {
      [platforms, recorded] = await Promise.all([
        this.db.selectFrom('platform_registration').select('issuer').execute(),
        this.db.selectFrom('platform_origin as o')
          .innerJoin('platform_registration as p', (j) => j.onRef('p.issuer', '=', 'o.issuer').onRef('p.client_id', '=', 'o.client_id'))
          .select('o.origin').execute(),
      ]);
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      // Until the database answers: the last known origins, or only our own ('self').
      this.cached = { at: Date.now(), origins: this.cached?.origins ?? [] };
      return this.cached.origins;
    }
    const origins = [...new Set([...platforms.map((p) => originOf(p.issuer)), ...recorded.map((r) => r.origin)].filter((o): o is string => o !== undefined))].sort();
    this.cached = { at: Date.now(), origins };
    return origins;
  }
}
