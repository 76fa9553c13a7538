import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** Thrown for a bad environment variable; the message is the one line printed at start-up. */
export class ConfigError extends Error {}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** Each variable, with the expected form quoted in the error when it is wrong. Exported: its keys are the tool's settings. */
export const envSchema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(3000)
    .describe('an integer port between 1 and 65535, e.g. 3000'),
  PUBLIC_URL: z.string().url().refine((u) => {
    if (!URL.canParse(u)) return false;
    const url = new URL(u);
    return /^https?:$/.test(url.protocol) && url.pathname.replace(/\/+$/, '') === '' && !url.search && !url.hash;
  }).optional()
    .describe('the absolute http(s) origin where platforms reach the tool, without a path, e.g. https://badges.example.ac.jp'),
  DATABASE_URL: z.string().refine((u) => /^postgres(ql)?:\/\//.test(u) && URL.canParse(u)).optional()
    .describe('a PostgreSQL connection URL, e.g. postgres://user:pass@db:5432/microcred (leave unset for the embedded database)'),
  DATA_DIR: z.string().min(1).default('./data')
    .describe('a writable directory for the embedded database and generated keys, e.g. ./data'),
  LTI_ENCRYPTION_KEY: z.string().min(32).optional()
    .describe('a secret of at least 32 characters (generate one with: openssl rand -hex 32)'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info')
    .describe(`one of ${LOG_LEVELS.join(', ')}`),
  LTI_DYNREG_AUTO_ACTIVATE: booleanFlag.default(false)
    .describe('true or false'),
  COURSE_SYNC_CRON: z.string().regex(/^(off|(\S+\s+){4}\S+)$/).default('*/30 * * * *')
    .describe('a five-field cron expression for the background gradebook sync, e.g. */30 * * * *, or off'),
  TOOL_NAME: z.string().min(1).max(100).default('Micro-credentials')
    .describe('the tool name shown to LMS admins, at most 100 characters'),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(60)
    .describe('requests per minute per client address on the public verification and share pages: an integer from 1, e.g. 60'),
  RATE_LIMIT_REGISTRATIONS_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(10)
    .describe('Dynamic Registration attempts per minute per client address: an integer from 1, e.g. 10'),
  SESSION_MAX_AGE_MINUTES: z.coerce.number().int().min(5).max(1440).default(480)
    .describe('how long a launch stays usable before the user must open the tool again from the course: minutes between 5 and 1440, e.g. 480'),
  ADMIN_PASSWORD: z.string().min(12).optional()
    .describe('a password of at least 12 characters for the tool\'s own admin page at /admin (leave unset to turn it off)'),
  OUTBOUND_ALLOW_PRIVATE_NETWORKS: booleanFlag.optional()
    .describe('true or false (true: requests to platform URLs may reach private, loopback and link-local addresses)'),
});

export interface Config {
  port: number;
  /** The tool's origin as platforms reach it, without a trailing slash. */
  publicUrl: string;
  /** Set: production PostgreSQL. Unset: embedded PGlite under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  ltiEncryptionKey: string;
  logLevel: (typeof LOG_LEVELS)[number];
  dynRegAutoActivate: boolean;
  /** When every course with credentials is read again in the background; undefined: never. */
  courseSyncCron: string | undefined;
  toolName: string;
  /** Public verification and share pages: requests per minute per client address. */
  rateLimitPerMinute: number;
  /** Dynamic Registration attempts per minute per client address. */
  registrationsPerMinute: number;
  /** A launch's session (its ltik) expires this long after the launch. */
  sessionMaxAgeMinutes: number;
  /** The local admin page's password; undefined: /admin is off. */
  adminPassword: string | undefined;
  /** False: requests to platform URLs connect to public addresses only (the default in production). */
  outboundAllowPrivateNetworks: boolean;
}

/** Secrets are never echoed in the error line, which lands in logs. */
const SECRET_VARIABLES = new Set(['LTI_ENCRYPTION_KEY', 'ADMIN_PASSWORD']);

function describeIssue(issue: z.core.$ZodIssue, env: NodeJS.ProcessEnv): string {
  const name = String(issue.path[0]);
  const field = envSchema.shape[name as keyof typeof envSchema.shape];
  const got = env[name];
  if (got === undefined || SECRET_VARIABLES.has(name)) return `Configuration error: ${name} must be ${field?.description ?? 'valid'}`;
  // A connection URL's password is a secret too, even in a URL too broken to parse.
  const shown = got.replace(/(\/\/[^/@:]*:)[^@/]*@/, '$1***@');
  return `Configuration error: ${name} must be ${field?.description ?? 'valid'} (got "${shown.length > 60 ? shown.slice(0, 60) + '…' : shown}")`;
}

/**
 * The ltijs key signs ltiks and encrypts platform keys. In embedded mode it is generated once and
 * kept beside the data; with a real DATABASE_URL it must come from the environment so that every
 * app instance shares it.
 */
function resolveEncryptionKey(fromEnv: string | undefined, dataDir: string, embedded: boolean): string {
  if (fromEnv) return fromEnv;
  if (!embedded) {
    throw new ConfigError('Configuration error: LTI_ENCRYPTION_KEY must be set when DATABASE_URL is set: a secret of at least 32 characters shared by all instances (generate one with: openssl rand -hex 32)');
  }
  const keyFile = path.join(dataDir, 'lti-encryption.key');
  if (existsSync(keyFile)) return readFileSync(keyFile, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('hex');
  writeFileSync(keyFile, key + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]])));
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error.issues[0]!, env));
  const v = parsed.data;
  const dataDir = path.resolve(v.DATA_DIR);
  const embedded = v.DATABASE_URL === undefined;
  try {
    return {
      port: v.PORT,
      publicUrl: (v.PUBLIC_URL ?? `http://localhost:${v.PORT}`).replace(/\/+$/, ''),
      databaseUrl: v.DATABASE_URL,
      dataDir,
      ltiEncryptionKey: resolveEncryptionKey(v.LTI_ENCRYPTION_KEY, dataDir, embedded),
      logLevel: v.LOG_LEVEL,
      dynRegAutoActivate: v.LTI_DYNREG_AUTO_ACTIVATE,
      courseSyncCron: v.COURSE_SYNC_CRON === 'off' ? undefined : v.COURSE_SYNC_CRON,
      toolName: v.TOOL_NAME,
      sessionMaxAgeMinutes: v.SESSION_MAX_AGE_MINUTES,
      rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE,
      registrationsPerMinute: v.RATE_LIMIT_REGISTRATIONS_PER_MINUTE,
      adminPassword: v.ADMIN_PASSWORD,
      // Local development, the demo and the tests register LMSes on loopback.
      outboundAllowPrivateNetworks: v.OUTBOUND_ALLOW_PRIVATE_NETWORKS ?? env.NODE_ENV !== 'production',
    };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Configuration error: DATA_DIR must be a writable directory (${(err as Error).message})`);
  }
}
