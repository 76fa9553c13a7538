import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { envSchema, loadConfig } from '../../src/config.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { freePort } from '../helpers/tool.js';

/**
 * The deployable set-up (Dockerfile, docker-compose.yml, docs/deploy.md) against the code: what
 * the files claim is checked here, and the image's start path is run from a real build. Docker
 * itself is not needed, so nothing here builds or runs an image.
 */

const run = promisify(execFile);

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile's instructions per stage, continuation lines joined and comments left out. */
function dockerfileStages(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) || (pending === '' && line.trim() === '')) continue;
    pending += line.replace(/\\$/, '');
    if (line.endsWith('\\')) continue;
    const [, keyword, args] = /^\s*(\w+)\s+(.*)$/s.exec(pending)!;
    if (keyword!.toUpperCase() === 'FROM') stages.push([]);
    stages.at(-1)!.push({ keyword: keyword!.toUpperCase(), args: args!.trim() });
    pending = '';
  }
  return stages;
}

const of = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword).map((i) => i.args);

function copies(stage: Instruction[]): Array<{ from: string | undefined; sources: string[]; dest: string }> {
  return of(stage, 'COPY').map((args) => {
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
  });
}

function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of of(stage, 'ENV')) {
    for (const [, name, quoted, bare] of args.matchAll(/(\w+)=(?:"([^"]*)"|(\S+))/g)) env[name!] = quoted ?? bare!;
  }
  return env;
}

const dockerfileText = readFileSync('Dockerfile', 'utf8');
const stages = dockerfileStages(dockerfileText);
const buildStage = stages[0]!;
const runtimeStage = stages.at(-1)!;
const imageEnv = envOf(runtimeStage);
const command = JSON.parse(of(runtimeStage, 'CMD').at(-1)!) as string[];
const healthcheck = JSON.parse(/\bCMD\s+(\[.*\])$/s.exec(of(runtimeStage, 'HEALTHCHECK').at(-1)!)![1]!) as string[];
/** The grace period the Dockerfile's docker run example gives a stop, in seconds. */
const stopTimeoutSeconds = Number(/--stop-timeout (\d+)/.exec(dockerfileText)![1]);

const packageJson = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string> };
/** The tsconfig `npm run build` compiles with. */
const buildProject = /-p (\S+)/.exec(packageJson.scripts.build!)![1]!;

interface ComposeService {
  build?: string;
  image?: string;
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}
const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8')) as { name: string; services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
const toolService = compose.services.tool!;
const postgresService = compose.services.postgres!;

/** Compose's substitution of ${VAR}, ${VAR:-default} and ${VAR:?message} from `env`. */
function interpolate(environment: Record<string, string>, env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, variable: string, op?: string, arg?: string) => {
    if (env[variable]) return env[variable];
    if (op === '?') throw new Error(`${variable}: ${arg}`);
    return op === '-' ? arg! : '';
  })]));
}

const DOT_ENV = { PUBLIC_URL: 'https://tool.example.test', LTI_ENCRYPTION_KEY: 'a1'.repeat(32), POSTGRES_PASSWORD: 'b2'.repeat(24) };

describe('docker-compose.yml', () => {
  test('every variable the tool service sets is one src/config.ts reads, or one the image sets (NODE_OPTIONS)', () => {
    const known = [...Object.keys(envSchema.shape), ...Object.keys(imageEnv)];
    expect(Object.keys(toolService.environment!).filter((name) => !known.includes(name))).toEqual([]);
  });

  test('PUBLIC_URL, LTI_ENCRYPTION_KEY and POSTGRES_PASSWORD must be given; a missing one stops compose with a message naming it', () => {
    for (const name of ['PUBLIC_URL', 'LTI_ENCRYPTION_KEY', 'POSTGRES_PASSWORD'] as const) {
      const without = { ...DOT_ENV, [name]: '' };
      const service = name === 'POSTGRES_PASSWORD' ? postgresService : toolService;
      expect(() => interpolate(service.environment!, without)).toThrow(new RegExp(`^${name}: set ${name} in \\.env`));
    }
    // The tool's own rule, which is why the key is required here: with DATABASE_URL it generates none.
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@db/x' })).toThrow(/^Configuration error: LTI_ENCRYPTION_KEY must be set when DATABASE_URL is set/);
  });

  test('the tool service\'s settings, over the image\'s, pass the tool\'s own checks and reach the postgres service', () => {
    const env = interpolate(toolService.environment!, DOT_ENV);
    const config = loadConfig({ ...imageEnv, ...env });
    expect(config).toMatchObject({ publicUrl: DOT_ENV.PUBLIC_URL, ltiEncryptionKey: DOT_ENV.LTI_ENCRYPTION_KEY, port: 3000, toolName: 'Micro-credentials', logLevel: 'info' });
    const url = new URL(config.databaseUrl!);
    const pg = interpolate(postgresService.environment!, DOT_ENV);
    expect({ host: url.hostname, port: url.port, user: url.username, password: url.password, database: url.pathname.slice(1) })
      .toEqual({ host: 'postgres', port: '5432', user: pg.POSTGRES_USER, password: pg.POSTGRES_PASSWORD, database: pg.POSTGRES_DB });
  });

  test('the tool waits for a healthy PostgreSQL 15 whose data is on a named volume', () => {
    expect(toolService.build).toBe('.');
    expect(toolService.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(postgresService.image).toBe('postgres:15');
    expect(postgresService.healthcheck!.test).toEqual(expect.arrayContaining(['pg_isready']));
    const [volume, mountPoint] = postgresService.volumes![0]!.split(':');
    expect(mountPoint).toBe('/var/lib/postgresql/data');
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
  });

  test('ports are published on loopback only, to the port the image listens on', () => {
    const published = Object.values(compose.services).flatMap((s) => s.ports ?? []);
    expect(published.length).toBeGreaterThan(0);
    // A host port or a range of them (docs/deploy.md, several instances on one host).
    for (const port of published) expect(port).toMatch(/^127\.0\.0\.1:\d+(-\d+)?:\d+$/);
    expect(toolService.ports!.map((p) => p.split(':')[2])).toEqual([imageEnv.PORT]);
  });

  test('services restart unless stopped, and the tool gets the Dockerfile\'s stop grace period', () => {
    expect([toolService.restart, postgresService.restart]).toEqual(['unless-stopped', 'unless-stopped']);
    expect(toolService.stop_grace_period).toBe(`${stopTimeoutSeconds}s`);
  });
});

test('the docs give the stop timeout, and docs/deploy.md the volume name and the address, that the files have', () => {
  const guide = readFileSync('docs/deploy.md', 'utf8');
  const docs = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)].map((f) => readFileSync(f, 'utf8'));
  const timeouts = docs.flatMap((text) => [...text.matchAll(/--stop-timeout (\d+)|\(SIGTERM, up to (\d+) s\)/g)]).map((m) => Number(m[1] ?? m[2]));
  expect(timeouts.length).toBeGreaterThan(1);
  expect(new Set(timeouts)).toEqual(new Set([stopTimeoutSeconds]));
  expect(guide).toContain(`\`${compose.name}_${postgresService.volumes![0]!.split(':')[0]}\``);
  const hostPort = toolService.ports![0]!.split(':')[1];
  for (const [, port] of guide.matchAll(/http:\/\/127\.0\.0\.1:(\d+)\//g)) expect(port).toBe(hostPort);
});

describe('Dockerfile', () => {
  test('every COPY source from the build context exists and is not left out by .dockerignore', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const sources = stages.flatMap(copies).filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(source) ? source : `${source} (missing)`).toBe(source);
      expect(ignored).not.toContain(source.split('/')[0]);
    }
  });

  test('the image runs as a non-root user', () => {
    expect(of(runtimeStage, 'USER').at(-1)).toMatch(/^(?!(root|0)(:|$))\S+$/);
  });

  test('the runtime stage copies what the build stage\'s npm run build produces', async () => {
    expect(of(buildStage, 'RUN')).toContain('npm run build');
    const { stdout } = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', buildProject, '--showConfig']);
    const outDir = path.posix.normalize((JSON.parse(stdout) as { compilerOptions: { outDir: string } }).compilerOptions.outDir);
    const fromBuild = copies(runtimeStage).filter((c) => c.from === 'build');
    expect(fromBuild).toEqual([{ from: 'build', sources: [path.posix.join(of(buildStage, 'WORKDIR').at(-1)!, outDir)], dest: `./${outDir}` }]);
  });
});

/** Waits for `ready`, failing at once if the process ends first. */
async function waitFor(ready: () => boolean, exited: () => boolean, ms: number, what: () => string): Promise<void> {
  for (const start = Date.now(); !ready(); await new Promise((r) => setTimeout(r, 100))) {
    if (exited() || Date.now() - start > ms) throw new Error(what());
  }
}

describe('the image\'s start path, from a real build', () => {
  /** Laid out as the runtime stage's /app: the compiled build, the copied sources, node_modules. */
  let appDir: string;

  beforeAll(async () => {
    appDir = mkdtempSync(path.join(os.tmpdir(), 'microcred-image-'));
    const fromBuild = copies(runtimeStage).find((c) => c.from === 'build')!;
    // The build into a directory of its own: the repository's dist/ is left as it is.
    await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', buildProject, '--outDir', path.join(appDir, fromBuild.dest)]);
    for (const { sources, dest } of copies(runtimeStage).filter((c) => c.from === undefined)) {
      for (const source of sources) symlinkSync(path.resolve(source), path.join(appDir, dest.endsWith('/') ? path.basename(source) : dest));
    }
    // The image installs the production dependencies only; the import check below stands in for that.
    symlinkSync(path.resolve('node_modules'), path.join(appDir, 'node_modules'));
  }, 180_000);
  afterAll(() => rmSync(appDir, { recursive: true, force: true }));

  test('the CMD is a file of the build, and the build imports only production dependencies', () => {
    const script = command.find((a) => a.endsWith('.js'))!;
    expect(existsSync(path.join(appDir, script))).toBe(true);
    const compiled = readdirSync(path.join(appDir, path.dirname(script)), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    const imported = new Set<string>();
    for (const file of compiled) {
      const code = readFileSync(path.join(appDir, path.dirname(script), file), 'utf8');
      // Static imports and re-exports (tsc starts each on a line of its own), side-effect imports, import().
      for (const m of code.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"\n]+)['"]|^import\s*['"]([^'"\n]+)['"]|\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/gm)) {
        const specifier = (m[1] ?? m[2] ?? m[3])!;
        if (!specifier.startsWith('.') && !isBuiltin(specifier)) imported.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    expect([...imported].filter((name) => !(name in packageJson.dependencies))).toEqual([]);
  });

  type Started = ReturnType<typeof start>;
  const started = new Set<Started>();
  // A failed assertion must not leave a tool running: Jest would wait for it.
  afterEach(async () => {
    for (const tool of started) {
      if (!tool.hasExited()) tool.child.kill('SIGKILL');
      await tool.exited;
    }
    started.clear();
  });
  const start = (env: Record<string, string>) => {
    const [, ...args] = command;
    const child = spawn(process.execPath, args, { cwd: appDir, env: { PATH: process.env.PATH!, ...imageEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let code: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve((code = c))));
    const tool = { child, exited, hasExited: () => code !== undefined, out: () => stdout, err: () => stderr };
    started.add(tool);
    return tool;
  };
  const runHealthcheck = (port: number) => run(process.execPath, healthcheck.slice(1), { env: { PATH: process.env.PATH!, PORT: String(port) } }).then(() => 0, (e: { code: number }) => e.code);

  describe.each(DATABASE_KINDS)('on %s', (kind) => {
    let target: TestDatabase;
    beforeAll(async () => {
      target = await createTestDatabase(kind);
    });
    afterAll(() => target.dispose());

    test('NODE_ENV=production: healthz, readyz and the image\'s HEALTHCHECK pass; SIGTERM exits 0 within the grace period; logs are JSON without the key', async () => {
      expect(imageEnv.NODE_ENV).toBe('production');
      const port = await freePort();
      // As the image's docker run: a fresh DATA_DIR and no key, so the tool makes its own (the server gets one).
      const tool = start({ ...target.env, PORT: String(port), PUBLIC_URL: 'https://tool.example.test' });
      // A first start on PGlite creates the database (initdb), slow on a loaded machine.
      await waitFor(() => tool.out().includes('"msg":"tool listening"'), tool.hasExited, 90_000, () => `the tool did not start:\n${tool.err()}${tool.out()}`);

      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', database: kind === 'pglite' ? 'embedded' : 'server' });
      expect(await runHealthcheck(port)).toBe(0);

      const stopping = Date.now();
      tool.child.kill('SIGTERM');
      expect(await tool.exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(stopTimeoutSeconds * 1000);
      expect(await runHealthcheck(port)).toBe(1);

      const key = kind === 'pglite' ? readFileSync(path.join(target.dataDir, 'lti-encryption.key'), 'utf8').trim() : target.env.LTI_ENCRYPTION_KEY!;
      expect(tool.out() + tool.err()).not.toContain(key);
      expect(tool.err()).toBe('');
      const records = tool.out().trim().split('\n').map((line) => JSON.parse(line) as { msg: string });
      expect(records.map((r) => r.msg)).toContain('tool stopped');
      if (kind === 'pglite') expect(existsSync(path.join(target.dataDir, 'pgdata.lock'))).toBe(false);
    }, 150_000);
  });

  test.each([
    [{ PORT: 'abc' }, /^Configuration error: PORT must be an integer port between 1 and 65535, e\.g\. 3000 \(got "abc"\)$/],
    [{ DATABASE_URL: 'postgres://microcred@127.0.0.1:1/microcred' }, /^Configuration error: LTI_ENCRYPTION_KEY must be set when DATABASE_URL is set/],
  ])('%j stops start-up with exit code 1 and one line naming the variable', async (env, line) => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'microcred-image-data-'));
    try {
      const tool = start({ DATA_DIR: dataDir, PUBLIC_URL: 'https://tool.example.test', ...env });
      expect(await tool.exited).toBe(1);
      expect(tool.err().endsWith('\n')).toBe(true);
      expect(tool.err().trimEnd().split('\n')).toEqual([expect.stringMatching(line)]);
      expect(tool.out()).toBe('');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
