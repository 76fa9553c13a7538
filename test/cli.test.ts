import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, UsageError } from '../src/cli.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from './helpers/databases.js';

const PLATFORM = ['--issuer', 'https://moodle.example.ac.jp', '--client-id', 'abc123'];
const ADD = ['platform', 'add', ...PLATFORM, '--auth-login-url', 'https://moodle.example.ac.jp/mod/lti/auth.php',
  '--token-url', 'https://moodle.example.ac.jp/mod/lti/token.php', '--keyset-url', 'https://moodle.example.ac.jp/mod/lti/certs.php', '--deployment-id', '1'];

describe.each(DATABASE_KINDS)('CLI on %s', (kind) => {
  let target: TestDatabase;
  let extraEnv: Record<string, string> = {};
  const run = async (args: string[]) => {
    const out: string[] = [];
    const code = await runCli(args, (l) => out.push(l), { ...target.env, LOG_LEVEL: 'silent', ...extraEnv });
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

  // Sealing and opening the key backup runs scrypt (N = 2^15) several times: on a loaded 2-core machine, over a minute.
  test('issuers: add, rotate, export the keys under a passphrase, import them into another installation', async () => {
    expect((await run(['issuer', 'add', '--slug', 'faculty-of-science', '--name', '理学部 / Faculty of Science', '--country', 'JP', '--url', 'https://sci.example.ac.jp'])).out)
      .toMatch(/^Issuer added: did:web:.*:issuers:faculty-of-science$/);
    await expect(run(['issuer', 'add', '--slug', 'Bad Slug', '--name', 'x'])).rejects.toThrow(/--slug: lower-case letters/);
    await expect(run(['issuer', 'add', '--slug', 'faculty-of-science', '--name', 'x'])).rejects.toThrow(/exists already/);
    expect((await run(['issuer', 'rotate-key', '--slug', 'faculty-of-science'])).out).toMatch(/#key-2; .*#key-1 is retired/);
    await expect(run(['issuer', 'rotate-key', '--slug', 'nobody'])).rejects.toThrow('no issuer "nobody"');

    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'keys.json');
    await expect(run(['issuer', 'export-keys', '--out', file])).rejects.toThrow(/KEY_BACKUP_PASSPHRASE must be set/);
    extraEnv = { KEY_BACKUP_PASSPHRASE: 'correct horse battery staple' };
    expect((await run(['issuer', 'export-keys', '--out', file])).out).toContain('sealed under KEY_BACKUP_PASSPHRASE');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const backup = readFileSync(file, 'utf8');
    expect(backup).not.toMatch(/secretKeyMultibase|"z[1-9A-HJ-NP-Za-km-z]{60,}"/);

    // Another installation (another database, another LTI_ENCRYPTION_KEY) restores them.
    const other = await createTestDatabase(kind);
    const saved = target;
    target = other;
    try {
      extraEnv = { KEY_BACKUP_PASSPHRASE: 'a wrong passphrase, long enough', LTI_ENCRYPTION_KEY: 'another-installation-secret-0123456789' };
      await expect(run(['issuer', 'import-keys', '--in', file])).rejects.toThrow('the passphrase does not open this backup');
      extraEnv = { KEY_BACKUP_PASSPHRASE: 'correct horse battery staple', LTI_ENCRYPTION_KEY: 'another-installation-secret-0123456789' };
      expect((await run(['issuer', 'import-keys', '--in', file])).out).toMatch(/^Imported 2 keys for 1 issuers\.$/);
      expect((await run(['issuer', 'import-keys', '--in', file])).out).toMatch(/^Imported 0 keys/);
      const listed = JSON.parse((await run(['issuer', 'list', '--json'])).out) as Array<{ slug: string; keys: Array<{ id: string; retired_at: string | null }> }>;
      expect(listed.map((i) => [i.slug, i.keys.map((k) => [k.id.split('#')[1], k.retired_at === null])])).toEqual([['faculty-of-science', [['key-1', false], ['key-2', true]]]]);
      await expect(run(['issuer', 'import-keys', '--in', path.join(dir, 'missing.json')])).rejects.toThrow(/is not a readable JSON file/);
    } finally {
      target = saved;
      extraEnv = {};
      await other.dispose();
    }

    // An installation that already made its own key under the same id refuses the backup whole.
    const started = await createTestDatabase(kind);
    target = started;
    try {
      await run(['issuer', 'add', '--slug', 'faculty-of-science', '--name', 'Faculty of Science']);
      extraEnv = { KEY_BACKUP_PASSPHRASE: 'correct horse battery staple' };
      await expect(run(['issuer', 'import-keys', '--in', file])).rejects.toThrow(/#key-1 exists here with another key pair, made when this installation first started; nothing was imported/);
      const listed = JSON.parse((await run(['issuer', 'list', '--json'])).out) as Array<{ keys: unknown[] }>;
      expect(listed.map((i) => i.keys.length)).toEqual([1]);
    } finally {
      target = saved;
      extraEnv = {};
      await started.dispose();
    }
  }, 180_000);

  test('credentials export writes every issued credential and an index', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'export-')), 'out');
    expect((await run(['credentials', 'export', '--out', dir])).out).toBe(`Wrote 0 credentials to ${dir}.`);
    expect(readdirSync(dir)).toEqual(['index.json']);
    expect(JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'))).toMatchObject({ credentials: [] });
    await expect(run(['credentials', 'export'])).rejects.toThrow('--out is required');
  });
});
