/**
 * Benchmark 4: launches and verification under load. This process is the tool (real startTool,
 * embedded PGlite) and the Moodle-flavoured emulator. 50 learners launch at once, for several
 * rounds after a warm-up; a launch's time is the tool's part only (login initiation, the
 * id_token post, the page), not the LMS's auth step. Then verification runs for a fixed time at a
 * steady concurrency against one signed credential.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { reportToParent } from './child-report.js';
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
  p50Ms: number;
  p95Ms: number;
  verify: { seconds: number; concurrency: number; requests: number; errors: number; p50Ms: number; p95Ms: number; perSecond: number };
}

const CONCURRENCY = Number(process.env.BENCH_LAUNCH_CONCURRENCY ?? 50);
const ROUNDS = 4;
const VERIFY_SECONDS = 8;
const VERIFY_CONCURRENCY = 8;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function runLaunchBench(): Promise<LaunchBenchResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'microcred-bench-launch-'));
  const tool = await startTestTool({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', COURSE_SYNC_CRON: 'off' });
  const lms = await connectLms(tool, { flavor: 'moodle' });
  try {
    /** One launch as a browser makes it; returns the time spent waiting on the tool. */
    const launch = async (userId: string): Promise<number> => {
      const browser = new LtiBrowser();
      const initiation = lms.emu.initiateLogin({ userId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
      let toolMs = 0;
      const timed = async <T>(step: () => Promise<T>): Promise<T> => {
        const t = performance.now();
        const out = await step();
        toolMs += performance.now() - t;
        return out;
      };
      const login = await timed(() => browser.fetch(initiation.url, { form: initiation.form }));
      const location = login.headers.get('location');
      if (login.status !== 302 || !location) throw new Error(`login answered ${login.status}`);
      const form = parseAutoPostForm(await (await fetch(location, { redirect: 'manual' })).text());
      const page = await timed(async () => {
        const posted = await browser.fetch(form.action, { form: { id_token: form.fields.id_token!, state: form.fields.state! } });
        if (posted.status !== 303) return { status: posted.status, html: await posted.text() };
        const shown = await browser.fetch(new URL(posted.headers.get('location')!, form.action).toString());
        return { status: shown.status, html: await shown.text() };
      });
      if (page.status !== 200) throw new Error(`the page answered ${page.status}: ${/data-testid="error-title"[^>]*>([^<]*)</.exec(page.html)?.[1] ?? ''}`);
      return toolMs;
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
    let failures = 0;
    const failureReasons = new Set<string>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const outcome of await round()) {
        if (outcome.status === 'fulfilled') times.push(outcome.value);
        else {
          failures++;
          failureReasons.add(String((outcome.reason as Error).message));
        }
      }
    }
    times.sort((a, b) => a - b);

    // One signed credential to verify: a teacher defines one, the course is read, a learner claims.
    const teacher = new LtiBrowser();
    const teacherPage = await teacher.launch(lms.emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: lms.clientId });
    const created = await teacher.fetch(`${tool.url}/api/v1/credentials`, { json: { definition: DEFINITION, criteria: { type: 'score', select: { tag: 'quiz' }, minPercent: 40 } }, bearer: teacherPage.ltik });
    const credentialId = ((await created.json()) as { id: string }).id;
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
      verify: {
        seconds: VERIFY_SECONDS, concurrency: VERIFY_CONCURRENCY, requests: verifyTimes.length, errors,
        p50Ms: percentile(verifyTimes, 50), p95Ms: percentile(verifyTimes, 95), perSecond: verifyTimes.length / VERIFY_SECONDS,
      },
    };
  } finally {
    await lms.emu.stop();
    await tool.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await reportToParent('launches', runLaunchBench);
