import type { FlavorProfile } from './flavor.js';
import type { PlatformKeys } from './keys.js';
import type { Store } from './store.js';

export interface ResolvedOptions {
  accessTokenTtlSeconds: number;
  /** undefined: unpaged unless the request carries `limit`. */
  defaultPageSize: number | undefined;
  moodlePagingQuirks: boolean;
}

/** What every route module needs: the flavor, the data, the keys and the (late-bound) base URL. */
export interface PlatformContext {
  readonly profile: FlavorProfile;
  readonly store: Store;
  readonly options: ResolvedOptions;
  /** Canvas: the root account's lti_context_id, part of every deployment id. */
  readonly accountContextId: string;
  /** tool_platform guid: Moodle uses the site host, Canvas a per-installation uuid. */
  platformGuid(): string;
  readonly platformName: string;
  keys(): PlatformKeys;
  /** Base URL == issuer; only valid once the server listens. */
  base(): string;
}

export function absolute(ctx: PlatformContext, path: string): string {
  return new URL(path, ctx.base()).toString();
}
