import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { createLtiProvider } from './lti/provider.js';
import { PlatformService, type PlatformSummary } from './lti/platforms.js';
import { createLogger } from './logger.js';
import type { Db } from './db/database.js';
import { issuerDid, IssuerNotFoundError, IssuerService, KeyImportError } from './issuance/issuers.js';
import { sealingKey } from './issuance/keys.js';

const USAGE = `Usage: npm run cli -- <command> [options]

  platform add --issuer URL --client-id ID --auth-login-url URL --token-url URL --keyset-url URL --deployment-id ID [--deployment-id ID ...] [--name NAME] [--inactive]
  platform list [--json]
  platform add-deployment --issuer URL --client-id ID --deployment-id ID
  platform activate   --issuer URL --client-id ID
  platform deactivate --issuer URL --client-id ID
  platform remove     --issuer URL --client-id ID

  issuer list [--json]
  issuer add --slug SLUG --name NAME [--url URL] [--email EMAIL] [--description TEXT] [--image-url URL] [--country CC]
  issuer rotate-key --slug SLUG
  issuer export-keys --out FILE      (passphrase from KEY_BACKUP_PASSPHRASE, 16+ characters)
  issuer import-keys --in FILE       (passphrase from KEY_BACKUP_PASSPHRASE)

  credentials export --out DIR       every issued credential as JSON, with an index.json

The database is the one the tool uses: DATABASE_URL, or the embedded one under DATA_DIR
(shared with a running tool process).`;

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

const url = (flag: string) => z.string({ error: `--${flag} is required` }).url(`--${flag} must be an http(s) URL`).refine((u) => /^https?:\/\//.test(u), `--${flag} must be an http(s) URL`);
const text = (flag: string) => z.string({ error: `--${flag} is required` }).min(1, `--${flag} must not be empty`);

const platformKey = z.object({ issuer: url('issuer'), 'client-id': text('client-id') });
const addSchema = platformKey.extend({
  'auth-login-url': url('auth-login-url'),
  'token-url': url('token-url'),
  'keyset-url': url('keyset-url'),
  'deployment-id': z.array(z.string().min(1), { error: '--deployment-id is required' }).min(1, '--deployment-id is required'),
  name: z.string().min(1).optional(),
  inactive: z.boolean().optional(),
});
const deploymentSchema = platformKey.extend({ 'deployment-id': z.array(z.string().min(1)).length(1, 'give exactly one --deployment-id') });

function parse<T extends z.ZodType>(schema: T, values: unknown): z.infer<T> {
  const r = schema.safeParse(values);
  if (!r.success) throw new UsageError(r.error.issues[0]!.message);
  return r.data;
}

function describe(p: PlatformSummary): string {
  return [
    `${p.active ? 'active ' : 'PENDING'}  ${p.name}`,
    `         issuer:      ${p.issuer}`,
    `         client id:   ${p.clientId}`,
    `         deployments: ${p.deploymentIds.join(', ') || '(none: launches are refused until one is added)'}`,
    `         source:      ${p.source}${p.productFamily ? ` (${p.productFamily})` : ''}, registered ${p.registeredAt.toISOString()}`,
  ].join('\n');
}

export async function runCli(argv: string[], out: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      issuer: { type: 'string' }, 'client-id': { type: 'string' }, 'auth-login-url': { type: 'string' }, 'token-url': { type: 'string' },
      'keyset-url': { type: 'string' }, 'deployment-id': { type: 'string', multiple: true }, name: { type: 'string' },
      inactive: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      slug: { type: 'string' }, url: { type: 'string' }, email: { type: 'string' }, description: { type: 'string' },
      'image-url': { type: 'string' }, country: { type: 'string' }, out: { type: 'string' }, in: { type: 'string' },
    },
  });
  const [group, command] = positionals;
  if (values.help || !group) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  if (group === 'issuer' || group === 'credentials') return runIssuance(group, command, values, out, env);
  if (group !== 'platform' || !['add', 'list', 'add-deployment', 'activate', 'deactivate', 'remove'].includes(command ?? '')) {
    throw new UsageError(`unknown command "${positionals.join(' ')}"`);
  }
  // Validate before opening anything, so a typo never touches the database.
  const add = command === 'add' ? parse(addSchema, values) : undefined;
  const deployment = command === 'add-deployment' ? parse(deploymentSchema, values) : undefined;
  const key = command === 'list' ? undefined : parse(platformKey, values);

  const config = loadConfig(env);
  const logger = createLogger(env.LOG_LEVEL ?? 'warn', process.stderr);
  const database = await openDatabase(config, logger);
  const lti = await createLtiProvider(config, database);
  const platforms = new PlatformService(lti, database.db);
  try {
    if (command === 'list') {
      const all = await platforms.list();
      if (values.json) out(JSON.stringify(all, null, 2));
      else out(all.length ? all.map(describe).join('\n\n') : 'No platforms registered yet.');
    } else if (add) {
      const p = await platforms.register({
        issuer: add.issuer, clientId: add['client-id'], name: add.name ?? new URL(add.issuer).host,
        authLoginUrl: add['auth-login-url'], tokenUrl: add['token-url'], keysetUrl: add['keyset-url'],
        deploymentIds: add['deployment-id'], source: 'cli', active: !add.inactive,
      }, 'cli');
      out(`Registered.\n${describe(p)}`);
    } else if (deployment) {
      out(`Deployment added.\n${describe(await platforms.addDeployment(deployment.issuer, deployment['client-id'], deployment['deployment-id'][0]!, 'cli'))}`);
    } else if (command === 'activate' || command === 'deactivate') {
      out(describe(await platforms.setActive(key!.issuer, key!['client-id'], command === 'activate', 'cli')));
    } else if (command === 'remove') {
      await platforms.remove(key!.issuer, key!['client-id'], 'cli');
      out(`Removed the platform ${key!.issuer} (client id ${key!['client-id']}) and its keys.`);
    }
    return 0;
  } finally {
    await lti.Database.Close();
    await database.close();
  }
}

const ISSUANCE_COMMANDS: Record<string, string[]> = { issuer: ['list', 'add', 'rotate-key', 'export-keys', 'import-keys'], credentials: ['export'] };
const passphrase = (env: NodeJS.ProcessEnv) => {
  const value = env.KEY_BACKUP_PASSPHRASE;
  if (!value || value.length < 16) throw new UsageError('KEY_BACKUP_PASSPHRASE must be set to a passphrase of at least 16 characters; keep it apart from the backup file');
  return value;
};

async function runIssuance(group: string, command: string | undefined, values: Record<string, unknown>, out: (line: string) => void, env: NodeJS.ProcessEnv): Promise<number> {
  if (!ISSUANCE_COMMANDS[group]!.includes(command ?? '')) throw new UsageError(`unknown command "${group} ${command ?? ''}"`);
  const needs = (flag: string) => {
    if (typeof values[flag] !== 'string' || values[flag] === '') throw new UsageError(`--${flag} is required`);
    return values[flag] as string;
  };
  // Validate before opening anything, so a typo never touches the database.
  const file = command === 'export-keys' || command === 'export' ? needs('out') : command === 'import-keys' ? needs('in') : undefined;
  const secret = command === 'export-keys' || command === 'import-keys' ? passphrase(env) : undefined;
  const slug = command === 'rotate-key' || command === 'add' ? needs('slug') : undefined;
  const profile = command === 'add' ? {
    slug, name: needs('name'),
    ...Object.fromEntries((['url', 'email', 'description'] as const).filter((k) => values[k] !== undefined).map((k) => [k, values[k]])),
    ...(values['image-url'] !== undefined ? { imageUrl: values['image-url'] } : {}),
    ...(values.country !== undefined ? { countryCode: values.country } : {}),
  } : undefined;
  let backup: unknown;
  if (command === 'import-keys') {
    try {
      backup = JSON.parse(readFileSync(file!, 'utf8'));
    } catch (err) {
      throw new UsageError(`--in ${file} is not a readable JSON file (${(err as Error).message})`);
    }
  }

  const config = loadConfig(env);
  const database = await openDatabase(config, createLogger(env.LOG_LEVEL ?? 'warn', process.stderr));
  const issuers = new IssuerService(database.db, config.publicUrl, sealingKey(config.ltiEncryptionKey));
  try {
    if (group === 'credentials') {
      const written = await exportCredentials(database.db, file!);
      out(`Wrote ${written} credentials to ${file}.`);
    } else if (command === 'list') {
      const all = await issuers.list();
      if (values.json) out(JSON.stringify(all.map((i) => ({ ...i, keys: i.keys.map(({ sealed_secret: _secret, ...k }) => k) })), null, 2));
      else out(all.length ? all.map((i) => `${i.is_default ? 'default ' : '        '}${i.name}\n         did:  ${i.did}\n         keys: ${i.keys.map((k) => `${k.id}${k.retired_at ? ' (retired)' : ' (signing)'}`).join(', ')}`).join('\n\n') : 'No issuers yet; the tool makes its default issuer when it first starts.');
    } else if (command === 'add') {
      const created = await issuers.create(profile, 'cli');
      if (!created.ok) throw new UsageError(created.errors.map((e) => `${e.path.replace(/^\//, '--')}: ${e.message}`).join('; '));
      out(`Issuer added: ${issuerDid(config.publicUrl, created.issuer.slug)}`);
    } else if (command === 'rotate-key') {
      const rotated = await issuers.rotateKey(slug!, 'cli');
      out(`Now signing with ${rotated.current}; ${rotated.retired} is retired and still verifies the credentials it signed.`);
    } else if (command === 'export-keys') {
      writeFileSync(file!, JSON.stringify(await issuers.exportKeys(secret!, 'cli'), null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      out(`Wrote the issuer keys to ${file}, sealed under KEY_BACKUP_PASSPHRASE.`);
    } else {
      const imported = await issuers.importKeys(backup, secret!, 'cli');
      out(`Imported ${imported.keys} keys for ${imported.issuers} issuers.`);
    }
    return 0;
  } catch (err) {
    if (err instanceof KeyImportError || err instanceof IssuerNotFoundError) throw new UsageError(err.message);
    throw err;
  } finally {
    await database.close();
  }
}

/** Every issued credential, one file each, and an index of who holds what and its status. */
async function exportCredentials(db: Db, dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const rows = await db.selectFrom('issued_credential').select(['id', 'credential_id', 'revision', 'user_id', 'issued_at', 'revoked_at', 'revocation_reason', 'document']).orderBy('issued_at').execute();
  for (const row of rows) writeFileSync(path.join(dir, `${row.id}.json`), JSON.stringify(row.document, null, 2) + '\n');
  const index = rows.map(({ document: _document, ...r }) => ({ ...r, file: `${r.id}.json` }));
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ exportedAt: new Date().toISOString(), credentials: index }, null, 2) + '\n');
  return rows.length;
}

async function main(): Promise<void> {
  try {
    process.exitCode = await runCli(process.argv.slice(2), (line) => process.stdout.write(line + '\n'));
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`Error: ${(err as Error).message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`Error: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
