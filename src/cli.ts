import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { createLtiProvider } from './lti/provider.js';
import { PlatformService, type PlatformSummary } from './lti/platforms.js';
import { createLogger } from './logger.js';

const USAGE = `Usage: npm run cli -- <command> [options]

  platform add --issuer URL --client-id ID --auth-login-url URL --token-url URL --keyset-url URL --deployment-id ID [--deployment-id ID ...] [--name NAME] [--inactive]
  platform list [--json]
  platform add-deployment --issuer URL --client-id ID --deployment-id ID
  platform activate   --issuer URL --client-id ID
  platform deactivate --issuer URL --client-id ID
  platform remove     --issuer URL --client-id ID

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
    },
  });
  const [group, command] = positionals;
  if (values.help || !group) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
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
  const lti = await createLtiProvider(config, database.sequelize);
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
