import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { parse } from 'yaml';
import type { DefinitionInput } from '../../src/credentials/definition-schema.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../fixtures/sample-course.js';
import { connectLms, type ConnectedLms } from '../gradebook/connect-lms.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { parseAutoPostForm } from '../helpers/lti-client.js';
import { startTestTool, type TestTool } from '../helpers/tool.js';
import { didKeyIssuer, externalCredential } from '../helpers/other-issuers.js';

/**
 * docs/openapi.yaml against the running tool: every /api/v1 route the app registers is described
 * (and nothing else is), and real responses from a walk through the API validate against the
 * response schemas it declares for their status and media type.
 */

const SPEC_PATH = 'docs/openapi.yaml';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;

type Json = Record<string, any>;
const spec = parse(readFileSync(SPEC_PATH, 'utf8')) as Json;

// OpenAPI's own keywords around the schemas; inside schemas, strict mode refuses any keyword JSON Schema 2020-12 does not know
// (a misspelt maxLength would otherwise be ignored). Open tuples and required-only refinements are intended.
const ajv = new Ajv2020.default({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false });
addFormats.default(ajv);
ajv.addVocabulary(['openapi', 'info', 'servers', 'tags', 'security', 'paths', 'components', 'jsonSchemaDialect', 'externalDocs']);
ajv.addSchema(spec, 'openapi');

const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Follows a local $ref of the spec (responses, parameters); returns the object and its JSON pointer. */
function deref(node: Json, pointer: string): { node: Json; pointer: string } {
  if (typeof node.$ref !== 'string') return { node, pointer };
  const ref = node.$ref as string;
  if (!ref.startsWith('#/')) throw new Error(`non-local $ref ${ref}`);
  const target = ref.slice(2).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).reduce<any>((o, k) => o?.[k], spec);
  if (!target) throw new Error(`unresolved $ref ${ref}`);
  return deref(target as Json, ref.slice(1));
}

const validators = new Map<string, ValidateFunction>();
function responseValidator(method: string, template: string, status: number, mediaType: string): ValidateFunction {
  const key = `${method} ${template} ${status} ${mediaType}`;
  const cached = validators.get(key);
  if (cached) return cached;
  const operation = spec.paths?.[template]?.[method] as Json | undefined;
  if (!operation) throw new Error(`${method.toUpperCase()} ${template} is not in ${SPEC_PATH}`);
  const declared = operation.responses?.[String(status)] as Json | undefined;
  if (!declared) throw new Error(`${method.toUpperCase()} ${template} answered ${status}, which ${SPEC_PATH} does not declare (it declares ${Object.keys(operation.responses ?? {}).join(', ')})`);
  const response = deref(declared, `/paths/${escapePointer(template)}/${method}/responses/${status}`);
  const content = response.node.content as Json | undefined;
  if (!content?.[mediaType]) throw new Error(`${method.toUpperCase()} ${template} ${status} answered ${mediaType}, which ${SPEC_PATH} does not declare (it declares ${Object.keys(content ?? {}).join(', ') || 'no body'})`);
  const validate = ajv.compile({ $ref: `openapi#${response.pointer}/content/${escapePointer(mediaType)}/schema` });
  validators.set(key, validate);
  return validate;
}

/** Operations and statuses that real responses were checked against. */
const exercised = new Set<string>();

interface Answer {
  status: number;
  body: any;
  type: string;
  headers: Record<string, string>;
}

/** Checks a real response against the spec: declared status, declared media type, and the body against its schema. */
function conform(method: string, template: string, res: request.Response): Answer {
  const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
  let body: unknown = res.body;
  if (type === 'application/json' || type.endsWith('+json')) body = JSON.parse(Buffer.isBuffer(res.body) ? res.body.toString('utf8') : res.text);
  const validate = responseValidator(method, template, res.status, type);
  const valid = type === 'application/json' || type.endsWith('+json') || type === 'image/svg+xml' ? validate(type === 'image/svg+xml' ? res.text ?? String(res.body) : body) : true;
  if (!valid) {
    throw new Error(`${method.toUpperCase()} ${template} ${res.status} does not match ${SPEC_PATH}:\n${JSON.stringify(validate.errors, null, 2)}\nbody: ${JSON.stringify(body, null, 2).slice(0, 3000)}`);
  }
  exercised.add(`${method} ${template} ${res.status}`);
  return { status: res.status, body, type, headers: res.headers as Record<string, string> };
}

/** The /api/v1 routes an express app (and the routers it mounts at its root) registers, as "method /openapi/{template}". */
function apiRoutes(stack: any[], found: Set<string>): Set<string> {
  for (const layer of stack) {
    if (layer.route) {
      const path = layer.route.path as unknown;
      if (typeof path !== 'string') {
        if (layer.regexp.test('/api/v1/x')) throw new Error(`a non-string route path under /api/v1: ${String(path)}`);
        continue;
      }
      if (!path.startsWith('/api/v1')) continue;
      for (const [method, on] of Object.entries(layer.route.methods as Record<string, boolean>)) {
        if (!on) continue;
        if (method === '_all') throw new Error(`app.all(${path}) cannot be described per method`);
        found.add(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
      }
    } else if (layer.name === 'router' && Array.isArray(layer.handle?.stack)) {
      if (!layer.regexp.fast_slash) {
        if (layer.regexp.test('/api/v1/')) throw new Error(`a router mounted below the root (${String(layer.regexp)}); teach this test its prefix`);
        continue;
      }
      apiRoutes(layer.handle.stack, found);
    }
  }
  return found;
}

const definition: DefinitionInput = {
  name: 'データサイエンス入門 / Intro to Data Science', description: '小テストでデータ分析の基礎を確認しました。', criteriaNarrative: 'Every quiz at 40% or more.',
  image: { url: 'https://www.example.ac.jp/badges/ds101.png', caption: 'DS101' }, tags: ['statistics'],
  alignments: [{ targetName: 'Statistics', targetUrl: 'http://data.europa.eu/esco/skill/a7a3b58f-4a13-4a4e-a9f7-6a0bba8e5b8e', targetType: 'ext:ESCOSkill', targetFramework: 'ESCO' }],
  language: 'ja', version: '2026', learningOutcomes: ['記述統計を計算できる'], workloadHours: 25, ectsCredits: 1, eqfLevel: 5, nqfLevel: 'JQF 5',
  assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Faculty curriculum committee', awardingBody: { name: 'Example University', url: 'https://www.example.ac.jp' },
  awardingCountry: 'JP', supervision: 'none', identityVerified: false, stackability: 'Counts towards the Data Science certificate.', validForMonths: 36,
};
const criteria = { type: 'allOf', id: 'quizzes', label: { en: 'Quizzes', ja: '小テスト' }, children: [{ type: 'score', select: { tag: 'quiz' }, minPercent: 40, requireCompleted: true }] };

interface Session {
  agent: ReturnType<typeof request.agent>;
  ltik: string;
  userId: string;
}

describe('the JSON API against docs/openapi.yaml', () => {
  let target: TestDatabase;
  let tool: TestTool;
  let lms: ConnectedLms;
  let teacher: Session;

  /** An LTI launch through the emulator, with a supertest agent. */
  const launch = async (userId: string): Promise<Session> => {
    const agent = request.agent(tool.server);
    const login = lms.emu.initiateLogin({ userId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    const loginUrl = new URL(login.url);
    const started = await agent.post(loginUrl.pathname + loginUrl.search).type('form').send(login.form).redirects(0);
    expect(started.status).toBe(302);
    const auth = await fetch(started.headers.location!, { redirect: 'manual' });
    const form = parseAutoPostForm(await auth.text());
    // The state cookie is Secure (browsers take that on loopback over http); superagent's jar does not, so it is carried by hand.
    const stateCookie = (started.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    const launched = await agent.post(new URL(form.action).pathname).set('Cookie', stateCookie).type('form').send({ id_token: form.fields.id_token!, state: form.fields.state! }).redirects(0);
    expect(launched.status).toBe(303);
    const page = new URL(launched.headers.location!, tool.url);
    // The launch page stores the course and evaluates the learner, as a browser's visit does.
    expect((await agent.get(page.pathname + page.search).redirects(0)).status).toBe(200);
    return { agent, ltik: page.searchParams.get('ltik')!, userId };
  };

  /** A call with the ltik as a Bearer token, checked against the spec. */
  const call = async (who: Session | undefined, method: 'get' | 'post' | 'put', template: string, options: { params?: Record<string, string>; json?: unknown; raw?: string; query?: Record<string, string>; lang?: string } = {}) => {
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => options.params?.[name] ?? name);
    const agent = who?.agent ?? request(tool.server);
    let req = (agent as any)[method](path).set('Accept', 'application/json').set('Accept-Language', options.lang ?? 'en') as request.Test;
    if (who) req = req.set('Authorization', `Bearer ${who.ltik}`);
    if (options.query) req = req.query(options.query);
    if (options.json !== undefined) req = req.send(options.json as object);
    if (options.raw !== undefined) req = req.set('Content-Type', 'application/json').send(options.raw);
    return conform(method, template, await req.buffer(true).parse(binaryParser));
  };

  /** Bodies as bytes whatever their type, so downloads and JSON are read alike. */
  // superagent hands a parser the raw node response.
  const binaryParser = (res: any, done: (err: Error | null, body: Buffer) => void) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const body = Buffer.concat(chunks);
      res.text = body.toString('utf8');
      done(null, body);
    });
  };

  const verify = async (body: string | Buffer, contentType: string) => conform('post', '/api/v1/verify',
    await request(tool.server).post('/api/v1/verify').set('Content-Type', contentType).set('Accept-Language', 'ja').send(body).buffer(true).parse(binaryParser));

  beforeAll(async () => {
    target = await createTestDatabase('pglite');
    tool = await startTestTool(target.env);
    lms = await connectLms(tool, { flavor: 'moodle' });
    teacher = await launch(TEACHER.id);
  });
  afterAll(async () => {
    await lms?.emu.stop();
    await tool?.stop();
    await target?.dispose();
  });

  test('every /api/v1 route of the running app is in openapi.yaml with its method and path, and every path there exists', () => {
    const registered = apiRoutes((tool.app.app as any)._router.stack, new Set());
    apiRoutes((tool.app.lti.app as any)._router.stack, registered);
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(spec.paths as Json)) {
      for (const method of METHODS) if ((item as Json)[method]) documented.add(`${method} ${path}`);
    }
    expect([...registered].sort()).toEqual([...documented].sort());
    // A sanity check that introspection sees both routers: the public verify route and an ltik route.
    expect(registered).toContain('post /api/v1/verify');
    expect(registered).toContain('get /api/v1/issued/{issuedId}/{format}');
  });

  test('the schemas in openapi.yaml compile in strict mode, and its examples match them', () => {
    for (const [path, item] of Object.entries(spec.paths as Json)) {
      for (const method of METHODS) {
        const operation = (item as Json)[method] as Json | undefined;
        if (!operation) continue;
        for (const [status, declared] of Object.entries(operation.responses as Json)) {
          const response = deref(declared as Json, `/paths/${escapePointer(path)}/${method}/responses/${status}`).node;
          for (const [mediaType, media] of Object.entries((response.content ?? {}) as Json)) {
            const validate = responseValidator(method, path, Number(status), mediaType);
            for (const [name, example] of Object.entries(((media as Json).examples ?? {}) as Json)) {
              const value = deref(example as Json, '').node.value;
              expect({ example: `${method} ${path} ${status} ${name}`, valid: validate(value), errors: validate.errors ?? [] }).toEqual({ example: `${method} ${path} ${status} ${name}`, valid: true, errors: [] });
            }
          }
        }
        const body = operation.requestBody as Json | undefined;
        const media = body?.content?.['application/json'] as Json | undefined;
        if (media?.examples) {
          const validate = ajv.compile({ $ref: `openapi#/paths/${escapePointer(path)}/${method}/requestBody/content/application~1json/schema` });
          for (const [name, example] of Object.entries(media.examples as Json)) {
            const value = deref(example as Json, '').node.value;
            expect({ example: `${method} ${path} request ${name}`, valid: validate(value), errors: validate.errors ?? [] }).toEqual({ example: `${method} ${path} request ${name}`, valid: true, errors: [] });
          }
        }
      }
    }
  });

  let credentialId: string;
  let approvalCredentialId: string;
  let qualified: string[];
  let unqualified: string;
  let issuedId: string;
  let signed: Json;

  test('credentials: create, list, read, update, copy, and their 400/403/404/413 answers', async () => {
    const created = await call(teacher, 'post', '/api/v1/credentials', { json: { definition, criteria } });
    expect(created.status).toBe(201);
    credentialId = created.body.id;
    expect(created.body.definition).toMatchObject({ name: definition.name, autoIssue: false, writeBackToGradebook: false });

    const listed = await call(teacher, 'get', '/api/v1/credentials');
    expect(listed.body.credentials.map((c: Json) => c.id)).toEqual([credentialId]);
    expect((await call(teacher, 'get', '/api/v1/credentials/{id}', { params: { id: credentialId } })).body).toEqual(created.body);
    expect((await call(teacher, 'get', '/api/v1/credentials/{id}', { params: { id: 'not-a-uuid' } })).body.error).toBe('not_found');
    expect((await call(teacher, 'get', '/api/v1/credentials/{id}', { params: { id: '00000000-0000-4000-8000-000000000000' } })).status).toBe(404);

    const updated = await call(teacher, 'put', '/api/v1/credentials/{id}', { params: { id: credentialId }, json: { definition: { ...definition, version: '2026b' }, criteria } });
    expect(updated).toMatchObject({ status: 200, body: { id: credentialId, revision: 1, definition: { version: '2026b' } } });

    const invalid = await call(teacher, 'put', '/api/v1/credentials/{id}', { params: { id: credentialId }, json: {
      definition: { ...definition, workloadHours: -1, extra: true },
      criteria: { type: 'allOf', children: [{ type: 'score', select: { labelPattern: 'no such column' }, minPercent: 50 }] },
    } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors.map((e: Json) => e.path)).toEqual(expect.arrayContaining(['/definition/workloadHours', '/definition/extra']));
    const noColumn = await call(teacher, 'post', '/api/v1/credentials', { json: { definition, criteria: { type: 'score', select: { labelPattern: 'no such column' }, minPercent: 50 } } });
    expect(noColumn.body.errors).toEqual([expect.objectContaining({ path: '/criteria/select' })]);
    expect((await call(teacher, 'post', '/api/v1/credentials', { raw: '{"definition": {"name": "cut off' })).body.error).toBe('bad_body');
    // The limit is ltijs' body parser's (100 KiB), which reads the body before our handlers.
    const oversized = JSON.stringify({ definition: { ...definition, description: 'x'.repeat(257 * 1024) }, criteria });
    expect((await call(teacher, 'post', '/api/v1/credentials', { raw: oversized })).body.error).toBe('too_large');
    const underLimit = JSON.stringify({ definition: { ...definition, description: 'x'.repeat(95 * 1024) }, criteria });
    expect((await call(teacher, 'post', '/api/v1/credentials', { raw: underLimit })).status).toBe(400);

    const learner = await launch(LEARNERS[2]!.id);
    expect((await call(learner, 'post', '/api/v1/credentials', { json: { definition, criteria } })).body.error).toBe('staff_only');
    expect((await call(learner, 'put', '/api/v1/credentials/{id}', { params: { id: credentialId }, json: { definition, criteria } })).status).toBe(403);
    expect((await call(learner, 'get', '/api/v1/credentials/{id}', { params: { id: credentialId } })).status).toBe(200);

    // Copying within the platform: here from this very course.
    const copied = await call(teacher, 'post', '/api/v1/credentials/copy', { json: { fromCourse: SAMPLE_COURSE.id, credentialId } });
    expect(copied).toMatchObject({ status: 201, body: { copiedFrom: credentialId, revision: 1 } });
    expect((await call(teacher, 'post', '/api/v1/credentials/copy', { json: { fromCourse: 'NO-SUCH-COURSE', credentialId } })).body.error).toBe('not_found');
    expect((await call(teacher, 'post', '/api/v1/credentials/copy', { json: { fromCourse: SAMPLE_COURSE.id, credentialId: 'x' } })).body).toMatchObject({ error: 'invalid', errors: [{ path: '/credentialId' }] });
    expect((await call(learner, 'post', '/api/v1/credentials/copy', { json: { fromCourse: SAMPLE_COURSE.id, credentialId } })).status).toBe(403);
  });

  test('awarding: approvals, sync, progress as learner and staff', async () => {
    const approvalOnly = await call(teacher, 'post', '/api/v1/credentials', { json: { definition: { ...definition, name: 'Interview' }, criteria: { type: 'staffApproval' } } });
    approvalCredentialId = approvalOnly.body.id;
    const approved = await call(teacher, 'post', '/api/v1/credentials/{id}/approvals', { params: { id: approvalCredentialId }, json: { userId: LEARNERS[7]!.id, note: '面接合格' } });
    expect(approved).toMatchObject({ status: 201, body: { credentialId: approvalCredentialId, userId: LEARNERS[7]!.id } });
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/approvals', { params: { id: approvalCredentialId }, json: { user: 'x' } })).status).toBe(400);
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/approvals', { params: { id: 'nope' }, json: { userId: 'x' } })).status).toBe(404);

    const synced = await call(teacher, 'post', '/api/v1/course/sync');
    expect(synced).toMatchObject({ status: 200, body: { learners: LEARNERS.length } });
    const awarded = new Set((await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).map((a) => a.user_id));
    qualified = LEARNERS.map((l) => l.id).filter((id) => awarded.has(id));
    unqualified = LEARNERS.map((l) => l.id).find((id) => !awarded.has(id) && id !== LEARNERS[7]!.id)!;
    expect(qualified.length).toBeGreaterThanOrEqual(3);

    const learner = await launch(qualified[0]!);
    const own = await call(learner, 'get', '/api/v1/progress');
    expect(own.body.progress.length).toBeGreaterThan(0);
    expect(own.body.progress.every((p: Json) => p.userId === qualified[0] && p.evaluation)).toBe(true);
    expect((await call(learner, 'get', '/api/v1/progress', { query: { userId: qualified[0]! } })).status).toBe(200);
    expect((await call(learner, 'get', '/api/v1/progress', { query: { userId: unqualified } })).body.error).toBe('staff_only');
    const all = await call(teacher, 'get', '/api/v1/progress');
    expect(new Set(all.body.progress.map((p: Json) => p.userId)).size).toBe(LEARNERS.length);
    const one = await call(teacher, 'get', '/api/v1/progress', { query: { userId: unqualified } });
    expect(one.body.progress.length).toBeGreaterThan(0);
    expect(one.body.progress.every((p: Json) => p.userId === unqualified && p.evaluation)).toBe(true);
    expect((await call(teacher, 'get', '/api/v1/progress', { query: { user: 'x' } })).body.errors).toEqual([{ path: '/user', message: 'unknown field' }]);
    expect((await call(teacher, 'get', '/api/v1/progress', { query: { userId: '' } })).status).toBe(400);
  });

  test('issuance: claim, issued list and item, downloads, share', async () => {
    const holder = await launch(qualified[0]!);
    const first = await call(holder, 'post', '/api/v1/credentials/{id}/claim', { params: { id: credentialId } });
    expect(first.status).toBe(201);
    issuedId = first.body.id;
    signed = first.body.credential;
    expect((await call(holder, 'post', '/api/v1/credentials/{id}/claim', { params: { id: credentialId } })).body.id).toBe(issuedId);
    expect((await call(holder, 'post', '/api/v1/credentials/{id}/claim', { params: { id: 'nope' } })).status).toBe(404);
    expect((await call(await launch(unqualified), 'post', '/api/v1/credentials/{id}/claim', { params: { id: credentialId } })).body.error).toBe('not_awarded');

    const record = await call(holder, 'get', '/api/v1/record');
    expect(record.body.credentials.map((c: Json) => c.rowId)).toEqual([issuedId]);
    const clr = await call(holder, 'get', '/api/v1/record/clr');
    expect(clr.body.credentialSubject.verifiableCredential).toHaveLength(1);
    expect((await call(await launch(unqualified), 'get', '/api/v1/record/clr')).body.error).toBe('record_empty');
    // One's own credential, presented on its own platform, links nothing.
    expect((await call(holder, 'post', '/api/v1/record/imports', { json: signed })).body.error).toBe('already_linked');
    expect((await call(holder, 'post', '/api/v1/record/imports', { json: { type: ['VerifiableCredential'] } })).status).toBe(422);
    const university = await didKeyIssuer();
    expect(await tool.app.pathways.acceptIssuer({ did: university.did, name: 'Universität Beispielstadt', creditSystem: 'ects' }, 'registrar')).toEqual({ ok: true });
    const holderEmail = LEARNERS.find((l) => l.id === holder.userId)!.email;
    const imported = await call(holder, 'post', '/api/v1/record/imports', { json: await externalCredential(university, holderEmail, 'urn:uuid:5d6e7f80-9a1b-4c2d-8e3f-405162738495') });
    expect(imported.body).toMatchObject({ ok: true, kind: 'imported', name: 'Statistik I' });

    expect((await call(holder, 'get', '/api/v1/issued')).body.issued.map((i: Json) => i.id)).toEqual([issuedId]);
    expect((await call(teacher, 'get', '/api/v1/issued')).body.issued).toEqual([]);
    expect((await call(holder, 'get', '/api/v1/issued/{issuedId}', { params: { issuedId } })).body).toEqual(first.body);
    expect((await call(teacher, 'get', '/api/v1/issued/{issuedId}', { params: { issuedId } })).status).toBe(200);
    const other = await launch(qualified[1]!);
    expect((await call(other, 'get', '/api/v1/issued/{issuedId}', { params: { issuedId } })).body.error).toBe('not_found');

    const types: Record<string, string> = { 'credential.json': 'application/vc+ld+json', 'badge.svg': 'image/svg+xml', 'badge.png': 'image/png', 'certificate.pdf': 'application/pdf' };
    for (const [format, type] of Object.entries(types)) {
      const file = await call(holder, 'get', '/api/v1/issued/{issuedId}/{format}', { params: { issuedId, format } });
      expect({ format, status: file.status, type: file.type }).toEqual({ format, status: 200, type });
      expect(file.headers['content-disposition']).toBe(`attachment; filename="credential-${issuedId}.${format.split('.')[1]}"`);
    }
    expect((await call(teacher, 'get', '/api/v1/issued/{issuedId}/{format}', { params: { issuedId, format: 'badge.png' } })).status).toBe(200);
    expect((await call(holder, 'get', '/api/v1/issued/{issuedId}/{format}', { params: { issuedId, format: 'badge.gif' } })).body.error).toBe('not_found');
    expect((await call(other, 'get', '/api/v1/issued/{issuedId}/{format}', { params: { issuedId, format: 'badge.png' } })).status).toBe(404);

    expect((await call(holder, 'put', '/api/v1/issued/{issuedId}/share', { params: { issuedId }, json: { enabled: 'yes' } })).body.error).toBe('invalid');
    expect((await call(teacher, 'put', '/api/v1/issued/{issuedId}/share', { params: { issuedId }, json: { enabled: true } })).body.error).toBe('holder_only');
    expect((await call(other, 'put', '/api/v1/issued/{issuedId}/share', { params: { issuedId }, json: { enabled: true } })).status).toBe(404);
    expect((await call(holder, 'put', '/api/v1/issued/{issuedId}/share', { params: { issuedId }, json: { enabled: true } })).body).toEqual({ id: issuedId, shared: true });
  });

  test('staff award by hand and revoke; verification reports each case', async () => {
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/awards', { params: { id: credentialId }, json: { userId: unqualified } })).body.errors).toEqual([{ path: '/note', message: expect.any(String) }]);
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/awards', { params: { id: credentialId }, json: { userId: 'nobody', note: 'x' } })).body.error).toBe('unknown_learner');
    const awarded = await call(teacher, 'post', '/api/v1/credentials/{id}/awards', { params: { id: credentialId }, json: { userId: unqualified, note: 'Completed the make-up exam on paper' } });
    expect(awarded).toMatchObject({ status: 201, body: { credentialId, revision: 1, userId: unqualified } });
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/awards', { params: { id: credentialId }, json: { userId: unqualified, note: 'again' } })).body.error).toBe('already_awarded');
    expect((await call(await launch(unqualified), 'post', '/api/v1/credentials/{id}/awards', { params: { id: credentialId }, json: { userId: unqualified, note: 'me' } })).status).toBe(403);

    const valid = await verify(JSON.stringify(signed), 'application/json');
    expect(valid.body.verdict).toBe('valid');

    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/revocations', { params: { id: credentialId }, json: { userId: qualified[0] } })).status).toBe(400);
    const revoked = await call(teacher, 'post', '/api/v1/credentials/{id}/revocations', { params: { id: credentialId }, json: { userId: qualified[0], reason: 'Academic misconduct in quiz 2' } });
    expect(revoked.body).toEqual({ credentialId, userId: qualified[0], revokedCredential: issuedId });
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/revocations', { params: { id: credentialId }, json: { userId: qualified[0], reason: 'again' } })).body.error).toBe('already_revoked');
    // An award never claimed: revoked, with no credential to revoke.
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/revocations', { params: { id: credentialId }, json: { userId: qualified[1], reason: 'Withdrawn' } })).body.revokedCredential).toBeNull();
    expect((await call(teacher, 'post', '/api/v1/credentials/{id}/revocations', { params: { id: approvalCredentialId }, json: { userId: unqualified, reason: 'x' } })).body.error).toBe('not_awarded');
    expect((await call(await launch(qualified[0]!), 'post', '/api/v1/credentials/{id}/claim', { params: { id: credentialId } })).body.error).toBe('award_revoked');

    expect((await verify(JSON.stringify(signed), 'application/vc+ld+json')).body.verdict).toBe('revoked');
    const tampered = structuredClone(signed);
    tampered.credentialSubject.achievement.name = 'PhD in Everything';
    expect((await verify(JSON.stringify(tampered), 'application/ld+json')).body.verdict).toBe('invalid');
    expect((await verify('{"type": ', 'text/plain')).body).toMatchObject({ verdict: 'invalid', credential: null, checks: [{ check: 'format', detail: 'not_json' }] });
    expect((await verify('[1]', 'application/json')).body.checks[0].detail).toBe('not_object');
    expect((await verify(JSON.stringify({ ...signed, '@context': [...signed['@context'], 'https://elsewhere.example/ctx.json'] }), 'application/json')).body.verdict).toBe('unverifiable');
    expect((await verify(Buffer.from('not an image'), 'image/png')).body.checks[0].detail).toBe('not_baked');
    const holder = await launch(qualified[2]!);
    const claimed = await call(holder, 'post', '/api/v1/credentials/{id}/claim', { params: { id: credentialId } });
    const png = await holder.agent.get(claimed.body.links['badge.png']).set('Authorization', `Bearer ${holder.ltik}`).buffer(true).parse(binaryParser);
    expect((await verify(png.body as Buffer, 'image/png')).body.verdict).toBe('valid');
    expect((await verify('x', 'application/pdf')).body.error).toBe('unsupported_media_type');
    const mistakenGet = await call(undefined, 'get', '/api/v1/verify');
    expect(mistakenGet).toMatchObject({ status: 405, body: { error: 'method_not_allowed' } });
    expect(mistakenGet.headers.allow).toBe('POST');
    expect((await verify(JSON.stringify({ padding: 'x'.repeat(3 * 1024 * 1024) }), 'application/json')).body.error).toBe('too_large');
  });

  test('course dashboard: the learners CSV, bulk awards and revocations', async () => {
    const csvPath = '/api/v1/credentials/{id}/learners.csv';
    const csv = await call(teacher, 'get', csvPath, { params: { id: credentialId } });
    expect({ status: csv.status, type: csv.type, charset: csv.headers['content-type'] }).toEqual({ status: 200, type: 'text/csv', charset: 'text/csv; charset=utf-8' });
    expect(csv.headers['content-disposition']).toBe(`attachment; filename="learners-${credentialId}.csv"`);
    const bytes = csv.body as Buffer;
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.toString('utf8').slice(1);
    expect(text.endsWith('\r\n')).toBe(true);
    const records = text.slice(0, -2).split('\r\n');
    // The teacher's launch is in Japanese.
    expect(records[0]).toBe('ユーザー ID,氏名,メールアドレス,状態,進捗（%）,達成,授与日時,受領日時,取り消し日時,理由');
    expect(records).toHaveLength(LEARNERS.length + 1);
    const byUser = new Map(records.slice(1).map((r) => [r.split(',')[0]!, r]));
    expect([...byUser.keys()].sort()).toEqual(LEARNERS.map((l) => l.id).sort());
    // qualified[2] claimed; qualified[0] had their claimed credential revoked.
    expect(byUser.get(qualified[2]!)).toMatch(/^[^,]+,[^,]*,[^,]*,受領済み,\d+,(はい|いいえ),\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,\d{4}-\d\d-\d\dT[^,]+Z,,/);
    expect(byUser.get(qualified[0]!)).toMatch(/,取り消し,\d+,(はい|いいえ),,,\d{4}-\d\d-\d\dT[^,]+Z,/);

    const revokedOnly = await call(teacher, 'get', csvPath, { params: { id: credentialId }, query: { status: 'revoked', sort: 'name', dir: 'desc', q: '' } });
    const revokedRows = (revokedOnly.body as Buffer).toString('utf8').slice(1).split('\r\n').slice(1, -1);
    expect(revokedRows.map((r) => r.split(',')[0]).sort()).toEqual([qualified[0], qualified[1]].sort());
    const searched = await call(teacher, 'get', csvPath, { params: { id: credentialId }, query: { q: qualified[2]! } });
    expect((searched.body as Buffer).toString('utf8').split('\r\n').slice(1, -1).map((r) => r.split(',')[0])).toEqual([qualified[2]]);

    const badQuery = await call(teacher, 'get', csvPath, { params: { id: credentialId }, query: { sort: 'email' } });
    expect({ status: badQuery.status, type: badQuery.type, error: badQuery.body.error, paths: badQuery.body.errors.map((e: { path: string }) => e.path) }).toEqual({ status: 400, type: 'application/json', error: 'invalid', paths: ['/sort'] });
    const learner = await launch(unqualified);
    expect((await call(learner, 'get', csvPath, { params: { id: credentialId } })).body.error).toBe('staff_only');
    expect((await call(teacher, 'get', csvPath, { params: { id: '00000000-0000-4000-8000-000000000000' } })).body.error).toBe('not_found');
    expect((await call(teacher, 'get', csvPath, { params: { id: 'not-a-uuid' } })).status).toBe(404);

    // Bulk awards: two learners with no award yet, a repeated id, one already awarded and one unknown.
    const awarded = new Set((await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', credentialId).execute()).map((a) => a.user_id));
    const fresh = LEARNERS.map((l) => l.id).filter((id) => !awarded.has(id)).slice(0, 2);
    expect(fresh).toHaveLength(2);
    const awards = '/api/v1/credentials/{id}/awards';
    const bulkAward = await call(teacher, 'post', awards, { params: { id: credentialId }, json: { userIds: [...fresh, fresh[0], unqualified, 'nobody'], note: 'Make-up exam on paper' } });
    expect(bulkAward).toMatchObject({ status: 200, body: { credentialId, results: [
      { userId: fresh[0], outcome: 'awarded', revision: 1 }, { userId: fresh[1], outcome: 'awarded', revision: 1 },
      { userId: unqualified, outcome: 'already_awarded' }, { userId: 'nobody', outcome: 'unknown_learner' },
    ] } });
    expect(bulkAward.body.results).toHaveLength(4);
    const tooMany = await call(teacher, 'post', awards, { params: { id: credentialId }, json: { userIds: Array.from({ length: 501 }, (_, i) => `learner-${i}`), note: 'x' } });
    expect(tooMany.body).toMatchObject({ error: 'invalid', errors: [{ path: '/userIds' }] });
    expect((await call(teacher, 'post', awards, { params: { id: credentialId }, json: { userIds: [], note: 'x' } })).status).toBe(400);
    expect((await call(teacher, 'post', awards, { params: { id: credentialId }, json: { userIds: [fresh[0]], userId: fresh[0], note: 'x' } })).body.errors).toEqual([{ path: '/userId', message: 'unknown field' }]);
    expect((await call(learner, 'post', awards, { params: { id: credentialId }, json: { userIds: [unqualified], note: 'me' } })).status).toBe(403);

    // Bulk revocations: the two just awarded, one revoked already, one never awarded (of the approval credential) and one unknown.
    const revocations = '/api/v1/credentials/{id}/revocations';
    const bulkRevoke = await call(teacher, 'post', revocations, { params: { id: credentialId }, json: { userIds: [...fresh, qualified[0], 'nobody'], reason: 'Awarded by mistake' } });
    expect(bulkRevoke).toMatchObject({ status: 200, body: { credentialId, results: [
      { userId: fresh[0], outcome: 'revoked', revokedCredential: null }, { userId: fresh[1], outcome: 'revoked', revokedCredential: null },
      { userId: qualified[0], outcome: 'already_revoked' }, { userId: 'nobody', outcome: 'unknown_learner' },
    ] } });
    expect((await call(teacher, 'post', revocations, { params: { id: approvalCredentialId }, json: { userIds: [unqualified], reason: 'x' } })).body.results).toEqual([{ userId: unqualified, outcome: 'not_awarded' }]);
    expect((await call(teacher, 'post', revocations, { params: { id: credentialId }, json: { userIds: Array.from({ length: 501 }, (_, i) => `learner-${i}`), reason: 'x' } })).status).toBe(400);
    expect((await call(teacher, 'post', revocations, { params: { id: credentialId }, json: { userIds: ['x'.repeat(256)], reason: 'x' } })).body.errors).toEqual([{ path: '/userIds/0', message: expect.any(String) }]);
  });

  test('sessions: no ltik, an ltik alone without any cookie, a malformed path', async () => {
    expect((await call(undefined, 'get', '/api/v1/credentials')).body.error).toBe('invalid_session');
    expect((await call({ ...teacher, ltik: 'not-a-jwt' }, 'get', '/api/v1/issued')).body.error).toBe('invalid_session');
    const copied = await conform('get', '/api/v1/issued', await request(tool.server).get('/api/v1/issued').set('Authorization', `Bearer ${teacher.ltik}`).set('Accept', 'application/json'));
    expect(copied.status).toBe(200);
    // The tool's own download links carry the ltik in the query.
    const byQuery = await teacher.agent.get('/api/v1/issued').query({ ltik: teacher.ltik });
    expect(conform('get', '/api/v1/issued', byQuery).status).toBe(200);
    expect((await call(teacher, 'get', '/api/v1/credentials/{id}', { params: { id: '%E0%A4%A' } })).body).toEqual({ status: 400, error: 'Bad Request', details: { message: 'URIError: Failed to decode param' } });
  });

  test('when the LMS cannot be read, staff writes and the sync answer 503', async () => {
    lms.emu.faults.set({ kind: 'server-error', pathPrefix: '/mod/lti/services.php' });
    try {
      expect((await call(teacher, 'post', '/api/v1/course/sync')).body).toMatchObject({ error: 'lms_unreachable', detail: 'unavailable', nextAttemptAt: expect.any(String) });
      expect((await call(teacher, 'post', '/api/v1/credentials', { json: { definition, criteria } })).body).toMatchObject({ error: 'lms_unreachable', detail: 'unavailable' });
      expect((await call(teacher, 'put', '/api/v1/credentials/{id}', { params: { id: credentialId }, json: { definition, criteria } })).status).toBe(503);
    } finally {
      lms.emu.faults.clear();
    }
  });

  test('every operation in openapi.yaml was checked against a real success response', () => {
    const missing: string[] = [];
    for (const [path, item] of Object.entries(spec.paths as Json)) {
      for (const method of METHODS) {
        const operation = (item as Json)[method] as Json | undefined;
        if (!operation) continue;
        const statuses = Object.keys(operation.responses as Json);
        const successes = statuses.filter((s) => s.startsWith('2'));
        // An operation that only refuses (GET /api/v1/verify) is checked by its refusal.
        if (!(successes.length ? successes : statuses).some((s) => exercised.has(`${method} ${path} ${s}`))) missing.push(`${method} ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
