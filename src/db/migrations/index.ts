import type { Migration } from 'kysely';
import * as m0001 from './0001_lti_foundation.js';

/** Every migration, in order. Names are permanent: Kysely records them in kysely_migration. */
export const migrations: Record<string, Migration> = {
  '0001_lti_foundation': m0001,
};
