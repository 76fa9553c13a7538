import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';

const dataDir = () => mkdtempSync(path.join(os.tmpdir(), 'microcred-config-'));

function errorFor(env: Record<string, string>): string {
  try {
    loadConfig({ DATA_DIR: dataDir(), ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  test('defaults give a working embedded setup', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config).toMatchObject({ port: 3000, publicUrl: 'http://localhost:3000', databaseUrl: undefined, logLevel: 'info', dynRegAutoActivate: false });
    expect(config.ltiEncryptionKey).toMatch(/^[0-9a-f]{64}$/);
  });

  test('the embedded encryption key is generated once, kept with mode 0600 and reused', () => {
    const dir = dataDir();
    const first = loadConfig({ DATA_DIR: dir }).ltiEncryptionKey;
    const keyFile = path.join(dir, 'lti-encryption.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(first);
    expect(loadConfig({ DATA_DIR: dir }).ltiEncryptionKey).toBe(first);
  });

  test.each([
    [{ PORT: 'abc' }, /^Configuration error: PORT must be an integer port between 1 and 65535, e\.g\. 3000 \(got "abc"\)$/],
    [{ PORT: '70000' }, /^Configuration error: PORT must be/],
    [{ PUBLIC_URL: 'tool.example.org' }, /^Configuration error: PUBLIC_URL must be the absolute http\(s\) origin/],
    [{ PUBLIC_URL: 'ftp://tool.example.org' }, /^Configuration error: PUBLIC_URL must be/],
    [{ PUBLIC_URL: 'https://example.org/badges' }, /^Configuration error: PUBLIC_URL must be/],
    [{ DATABASE_URL: 'mysql://x/y' }, /^Configuration error: DATABASE_URL must be a PostgreSQL connection URL/],
    [{ LOG_LEVEL: 'loud' }, /^Configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)$/],
    [{ LTI_DYNREG_AUTO_ACTIVATE: 'yes' }, /^Configuration error: LTI_DYNREG_AUTO_ACTIVATE must be true or false \(got "yes"\)$/],
    [{ LTI_ENCRYPTION_KEY: 'short' }, /^Configuration error: LTI_ENCRYPTION_KEY must be a secret of at least 32 characters/],
    [{ DATABASE_URL: 'postgres://db/x' }, /^Configuration error: LTI_ENCRYPTION_KEY must be set when DATABASE_URL is set/],
    [{ OUTBOUND_ALLOW_PRIVATE_NETWORKS: 'yes' }, /^Configuration error: OUTBOUND_ALLOW_PRIVATE_NETWORKS must be true or false \(true: requests to platform URLs may reach private, loopback and link-local addresses\) \(got "yes"\)$/],
  ])('%j stops start-up with one line naming the variable', (env, expected) => {
    const message = errorFor(env as Record<string, string>);
    expect(message).toMatch(expected);
    expect(message).not.toContain('\n');
  });

  test('a broken DATABASE_URL is named without its password', () => {
    const message = errorFor({ DATABASE_URL: 'mysql://microcred:s3cret-pass@db:5432/x' });
    expect(message).toBe('Configuration error: DATABASE_URL must be a PostgreSQL connection URL, e.g. postgres://user:pass@db:5432/microcred (leave unset for the embedded database) (got "mysql://microcred:***@db:5432/x")');
  });

  test('an unwritable DATA_DIR is named', () => {
    const file = path.join(dataDir(), 'not-a-directory');
    writeFileSync(file, '');
    expect(errorFor({ DATA_DIR: path.join(file, 'data') })).toMatch(/^Configuration error: DATA_DIR must be a writable directory/);
  });

  test.each([
    [{ NODE_ENV: 'production' }, false],
    [{ NODE_ENV: 'development' }, true],
    [{ NODE_ENV: 'test' }, true],
    [{}, true],
    [{ NODE_ENV: 'production', OUTBOUND_ALLOW_PRIVATE_NETWORKS: 'true' }, true],
    [{ NODE_ENV: 'development', OUTBOUND_ALLOW_PRIVATE_NETWORKS: 'false' }, false],
  ])('private networks are refused by default in production only: %j', (env, allowed) => {
    expect(loadConfig({ DATA_DIR: dataDir(), ...env }).outboundAllowPrivateNetworks).toBe(allowed);
  });

  test('a trailing slash on PUBLIC_URL is dropped', () => {
    expect(loadConfig({ DATA_DIR: dataDir(), PUBLIC_URL: 'https://badges.example.ac.jp/' }).publicUrl).toBe('https://badges.example.ac.jp');
  });
});
