/**
 * Benchmark 4: launches and verification under load. This process is the tool (real startTool,
 * embedded PGlite, or a PostgreSQL server with BENCH_POSTGRES_URL) and the Moodle-flavoured
 * emulator. The course has a credential, so each learner's launch reads their results from the
 * LMS. 50 learners launch at once, for several rounds after a warm-up; a launch's time is the
 * tool's part (login initiation, the id_token post, the page) less the time the tool waited on the
 * LMS's services, which the tool reports in Server-Timing; the LMS's auth step is not counted.
 * Then 20 launches one at a time, and verification for a fixed time at a steady concurrency
 * against one signed credential.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { reportToParent } from './child-report.js';
import { benchDatabase } from './pg-admin.js';
import { DEFINITION } from './fixture.js';
import { connectLms } from '../test/gradebook/connect-lms.js';
import { LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, TEACHER } from '../test/fixtures/sample-course.js';
import { LtiBrowser, parseAutoPostForm } from '../test/helpers/lti-client.js';
import { startTestTool } from '../test/helpers/tool.js';

export interface LaunchBenchResult {
  concurrency: number;
  launches: number;
  failures: number;
  /** The first few failures' messages. */
  failureReasons: string[];
  /** The tool's time: its requests' wall time less what it spent waiting on the LMS (Server-Timing). */
  p50Ms: number;
  p95Ms: number;
  wallP50Ms: number;
  wallP95Ms: number;
  lmsP50Ms: number;
  lmsP95Ms: number;
  database: 'pglite' | 'postgres';
  /** The tool's time for one launch with no other in flight (median of SEQUENTIAL). */
  aloneP50Ms: number;
  verify: { seconds: number; concurrency: number; requests: number; errors: number; p50Ms: number; p95Ms: number; perSecond: number };
}

const CONCURRENCY = Number(process.env.BENCH_LAUNCH_CONCURRENCY ?? 50);
const ROUNDS = 4;
const SEQUENTIAL = 20;
const VERIFY_SECONDS = 8;
const VERIFY_CONCURRENCY = 8;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** The `lms` entry of a Server-Timing header: what the tool spent waiting on the LMS's services. */
const lmsWaitMs = (res: Response) => Number(/(?:^|,)\s*lms;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? 0);

async function runLaunchBench(): Promise<LaunchBenchResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'microcred-bench-launch-'));
  const database = process.env.BENCH_POSTGRES_URL ? await benchDatabase(process.env.BENCH_POSTGRES_URL) : undefined;
  const tool = await startTestTool({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', COURSE_SYNC_CRON: 'off', ...database?.env });
  const lms = await connectLms(tool, { flavor: 'moodle' });
  try {
    // A credential in the course, so each learner's launch reads their results from the LMS as in use.
    const teacher = new LtiBrowser();
    const teacherPage = await teacher.launch(lms.emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    const created = await teacher.fetch(`${tool.url}/api/v1/credentials`, { json: { definition: DEFINITION, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 40 } }, bearer: teacherPage.ltik });
    const credentialId = ((await created.json()) as { id: string }).id;

    /** One launch as a browser makes it: the time spent waiting on the tool, and the part of it the tool waited on the LMS. */
    const launch = async (userId: string): Promise<{ wallMs: number; lmsMs: number }> => {
      const browser = new LtiBrowser();
      const initiation = lms.emu.initiateLogin({ userId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
      let wallMs = 0;
      let lmsMs = 0;
      const timed = async (step: () => Promise<Response>): Promise<Response> => {
        const t = performance.now();
        const res = await step();
        wallMs += performance.now() - t;
        lmsMs += lmsWaitMs(res);
        return res;
      };
      const login = await timed(() => browser.fetch(initiation.url, { form: initiation.form }));
      const location = login.headers.get('location');
      if (login.status !== 302 || !location) throw new Error(`login answered ${login.status}`);
      const form = parseAutoPostForm(await (await fetch(location, { redirect: 'manual' })).text());
      const posted = await timed(() => browser.fetch(form.action, { form: { id_token: form.fields.id_token!, state: form.fields.state! } }));
      const shown = posted.status === 303 ? await timed(() => browser.fetch(new URL(posted.headers.get('location')!, form.action).toString())) : posted;
      const html = await shown.text();
      if (shown.status !== 200) throw new Error(`the page answered ${shown.status}: ${/data-testid="error-title"[^>]*>([^<]*)</.exec(html)?.[1] ?? ''}`);
      return { wallMs, lmsMs };
    };

    // Distinct learners, as a class opening the tool at the start of a lesson.
    const learners = LEARNERS.map((l) => l.id);
    for (let i = learners.length; i < CONCURRENCY; i++) {
      const id = `bench-learner-${i}`;
      lms.emu.addUser({ id, name: `Bench Learner ${i}`, givenName: 'Bench', familyName: `Learner ${i}`, email: `${id}@example.ac.jp`, locale: 'en' });
      lms.emu.enrol(SAMPLE_COURSE.id, id, ['Learner']);
      learners.push(id);
    }
    const round = () => Promise.allSettled(Array.from({ length: CONCURRENCY }, (_, i) => launch(learners[i % learners.length]!)));
    await round(); // warm-up: JIT, connection pools, the JWKS cache
    const times: number[] = [];
    const wallTimes: number[] = [];
    const lmsTimes: number[] = [];
    let failures = 0;
    const failureReasons = new Set<string>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const outcome of await round()) {
        if (outcome.status === 'fulfilled') {
          times.push(outcome.value.wallMs - outcome.value.lmsMs);
          wallTimes.push(outcome.value.wallMs);
          lmsTimes.push(outcome.value.lmsMs);
        } else {
          failures++;
          failureReasons.add(String((outcome.reason as Error).message));
        }
      }
    }
    // One at a time: a launch's own cost, without the queue of the others.
    const alone: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const { wallMs, lmsMs } = await launch(learners[i % learners.length]!);
      alone.push(wallMs - lmsMs);
    }
    for (const t of [times, wallTimes, lmsTimes, alone]) t.sort((a, b) => a - b);

    // One signed credential to verify: the course is read, a learner claims.
    await teacher.fetch(`${tool.url}/api/v1/course/sync`, { method: 'POST', bearer: teacherPage.ltik });
    const holderId = (await tool.database.db.selectFrom('award').select('user_id').where('credential_id', '=', credentialId).executeTakeFirstOrThrow()).user_id;
    const holder = new LtiBrowser();
    const holderPage = await holder.launch(lms.emu, { userId: holderId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    const claimed = (await (await holder.fetch(`${tool.url}/api/v1/credentials/${credentialId}/claim`, { method: 'POST', bearer: holderPage.ltik })).json()) as { credential: unknown };
    const body = JSON.stringify(claimed.credential);

    const verifyTimes: number[] = [];
    let errors = 0;
    const until = performance.now() + VERIFY_SECONDS * 1000;
    await Promise.all(Array.from({ length: VERIFY_CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          const res = await fetch(`${tool.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          const report = (await res.json()) as { verdict?: string };
          if (res.status !== 200 || report.verdict !== 'valid') errors++;
        } catch {
          errors++;
        }
        verifyTimes.push(performance.now() - t);
      }
    }));
    verifyTimes.sort((a, b) => a - b);
    return {
      concurrency: CONCURRENCY, launches: times.length, failures, failureReasons: [...failureReasons].slice(0, 5), p50Ms: percentile(times, 50), p95Ms: percentile(times, 95),
      wallP50Ms: percentile(wallTimes, 50), wallP95Ms: percentile(wallTimes, 95), lmsP50Ms: percentile(lmsTimes, 50), lmsP95Ms: percentile(lmsTimes, 95), database: database ? 'postgres' : 'pglite', aloneP50Ms: percentile(alone, 50),
      verify: {
        seconds: VERIFY_SECONDS, concurrency: VERIFY_CONCURRENCY, requests: verifyTimes.length, errors,
        p50Ms: percentile(verifyTimes, 50), p95Ms: percentile(verifyTimes, 95), perSecond: verifyTimes.length / VERIFY_SECONDS,
      },
    };
  } finally {
    await lms.emu.stop();
    await tool.stop();
    await database?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await reportToParent('launches', runLaunchBench);
