import type { Migration } from 'kysely';
import * as m0001 from './0001_lti_foundation.js';
import * as m0002 from './0002_credentials_and_gradebook.js';
import * as m0003 from './0003_awarding_runs.js';
import * as m0004 from './0004_decisions_keep_evidence.js';
import * as m0005 from './0005_issuance.js';
import * as m0006 from './0006_cookieless_launch.js';
import * as m0007 from './0007_pathways.js';

/** Every migration, in order. Names are permanent: Kysely records them in kysely_migration. */
export const migrations: Record<string, Migration> = {
  '0001_lti_foundation': m0001,
  '0002_credentials_and_gradebook': m0002,
  '0003_awarding_runs': m0003,
  '0004_decisions_keep_evidence': m0004,
  '0005_issuance': m0005,
  '0006_cookieless_launch': m0006,
  '0007_pathways': m0007,
};
