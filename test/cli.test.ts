import { runCli, UsageError } from '../src/cli.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from './helpers/databases.js';

const PLATFORM = ['--issuer', 'https://moodle.example.ac.jp', '--client-id', 'abc123'];
const ADD = ['platform', 'add', ...PLATFORM, '--auth-login-url', 'https://moodle.example.ac.jp/mod/lti/auth.php',
  '--token-url', 'https://moodle.example.ac.jp/mod/lti/token.php', '--keyset-url', 'https://moodle.example.ac.jp/mod/lti/certs.php', '--deployment-id', '1'];

describe.each(DATABASE_KINDS)('CLI on %s', (kind) => {
  let target: TestDatabase;
  const run = async (args: string[]) => {
    const out: string[] = [];
    const code = await runCli(args, (l) => out.push(l), { ...target.env, LOG_LEVEL: 'silent' });
    return { code, out: out.join('\n') };
  };
  beforeAll(async () => {
    target = await createTestDatabase(kind);
  });
  afterAll(() => target.dispose());

  test('add, list, deactivate, activate, add-deployment, remove', async () => {
    expect((await run(ADD)).out).toContain('Registered.');
    const listed = JSON.parse((await run(['platform', 'list', '--json'])).out) as Array<Record<string, unknown>>;
    expect(listed).toEqual([expect.objectContaining({ issuer: 'https://moodle.example.ac.jp', clientId: 'abc123', active: true, deploymentIds: ['1'], source: 'cli' })]);

    expect((await run(['platform', 'deactivate', ...PLATFORM])).out).toMatch(/^PENDING/);
    expect((await run(['platform', 'activate', ...PLATFORM])).out).toMatch(/^active/);
    expect((await run(['platform', 'add-deployment', ...PLATFORM, '--deployment-id', '7'])).out).toContain('deployments: 1, 7');

    await expect(run(ADD)).rejects.toThrow('already registered');
    expect((await run(['platform', 'remove', ...PLATFORM])).out).toContain('Removed');
    expect((await run(['platform', 'list'])).out).toBe('No platforms registered yet.');
    await expect(run(['platform', 'activate', ...PLATFORM])).rejects.toThrow('No platform is registered');
  });

  test.each([
    [['platform', 'add', ...PLATFORM], '--auth-login-url is required'],
    [[...ADD.slice(0, -2)], '--deployment-id is required'],
    [['platform', 'add', '--issuer', 'not a url', ...ADD.slice(4)], '--issuer must be an http(s) URL'],
    [['platform', 'frobnicate'], 'unknown command "platform frobnicate"'],
    [['platform', 'activate', '--issuer', 'https://x.example'], '--client-id is required'],
  ])('%j is refused with a clear message before touching the database', async (args, message) => {
    const error = await run(args).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(message);
    expect((await run(['platform', 'list'])).out).toBe('No platforms registered yet.');
  });
});
