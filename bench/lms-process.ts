/**
 * The LMS of the course-sync benchmark, in its own process so that the tool's memory is measured
 * alone. A Canvas-flavoured emulator (results are paged, `limit` → per_page, at most 50).
 *
 * Protocol (IPC, started with child_process.fork):
 *   child → { type: 'started', url, endpoints }
 *   parent → { type: 'register', toolUrl, learners? }
 *   child → { type: 'ready', url, endpoints, clientId, deploymentId, courseId, teacherLaunchUrl, seeded }
 *   parent → { type: 'cpu' }                  child → { type: 'cpu', userMs, systemMs, rssMiB }
 *   parent → { type: 'stop' }                 child stops the emulator and exits.
 * The child exits by itself when the parent goes away (IPC disconnect).
 */
import { performance } from 'node:perf_hooks';
import { LmsEmulator } from '../test/emulator/index.js';
import { SERVICE_SCOPES } from '../test/emulator/vocabulary.js';
import { COLUMNS, learnerCells } from './fixture.js';

export const COURSE = { id: 'BENCH-10K', title: 'データサイエンス入門 (benchmark)', label: 'BENCH' };
export const TEACHER_ID = 'bench-teacher';
export const RESOURCE_LINK_ID = 'rl-bench';

export type ParentMessage = { type: 'register'; toolUrl: string; learners: number } | { type: 'cpu' } | { type: 'stop' };
export type ChildMessage =
  | { type: 'started'; url: string }
  | {
    type: 'ready'; url: string; clientId: string; deploymentId: string; courseId: string; teacherLaunchUrl: string;
    endpoints: { authorization: string; token: string; jwks: string };
    seeded: { learners: number; lineItems: number; scores: number; nullScores: number; ms: number };
  }
  | { type: 'cpu'; userMs: number; systemMs: number; rssMiB: number }
  | { type: 'error'; message: string };

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('lms-process.ts is started by bench/sync.ts through child_process.fork');
  const port = Number(process.argv[2] ?? 0);
  const emu = new LmsEmulator({ flavor: 'canvas', port });
  const url = await emu.start();

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await emu.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('disconnect', () => void stop(0));

  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    if (message.type === 'stop') void stop(0);
    else if (message.type === 'cpu') {
      const cpu = process.cpuUsage();
      send({ type: 'cpu', userMs: cpu.user / 1000, systemMs: cpu.system / 1000, rssMiB: process.memoryUsage().rss / 2 ** 20 });
    } else if (message.type === 'register') {
      try {
        const started = performance.now();
        const tool = emu.registerTool({
          name: 'Micro-credentials', initiateLoginUri: `${message.toolUrl}/lti/login`, redirectUris: [`${message.toolUrl}/lti/launch`],
          targetLinkUri: `${message.toolUrl}/lti/launch`, jwksUri: `${message.toolUrl}/lti/keys`, scopes: [...SERVICE_SCOPES],
        });
        emu.addCourse(COURSE);
        emu.addUser({ id: TEACHER_ID, name: '山田 花子', givenName: '花子', familyName: '山田', email: 'teacher@example.ac.jp', locale: 'ja' });
        emu.enrol(COURSE.id, TEACHER_ID, ['Instructor']);
        const learners = Array.from({ length: message.learners }, (_, i) => `learner-${String(i + 1).padStart(5, '0')}`);
        learners.forEach((id, i) => {
          emu.addUser({ id, name: `Learner ${i + 1}`, givenName: 'Learner', familyName: String(i + 1), email: `${id}@students.example.ac.jp` });
          emu.enrol(COURSE.id, id, ['Learner']);
        });
        emu.addResourceLink(COURSE.id, { id: RESOURCE_LINK_ID, title: 'マイクロクレデンシャル / Micro-credentials', toolClientId: tool.clientId });
        const items = COLUMNS.map((c) => emu.addLineItem(COURSE.id, { label: c.label, scoreMaximum: c.scoreMaximum, tag: c.tag, toolClientId: tool.clientId }));
        let scores = 0;
        let nullScores = 0;
        learners.forEach((id, n) => {
          learnerCells(n).forEach((cell, i) => {
            if (cell.kind === 'missing') return;
            // Canvas lists a score posted without scoreGiven as a result without resultScore.
            emu.setScore(COURSE.id, items[i]!.id, id, {
              scoreGiven: cell.kind === 'score' ? cell.score : null, scoreMaximum: COLUMNS[i]!.scoreMaximum,
              activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: '2026-10-01T09:00:00.000Z',
            });
            scores++;
            if (cell.kind === 'null') nullScores++;
          });
        });
        const teacherLaunchUrl = emu.launchUrl({ userId: TEACHER_ID, courseId: COURSE.id, resourceLinkId: RESOURCE_LINK_ID, clientId: tool.clientId });
        const { authorization, token, jwks } = emu.endpoints;
        send({
          type: 'ready', url, clientId: tool.clientId, deploymentId: tool.deploymentId, courseId: COURSE.id, teacherLaunchUrl,
          endpoints: { authorization, token, jwks },
          seeded: { learners: learners.length, lineItems: items.length, scores, nullScores, ms: performance.now() - started },
        });
      } catch (err) {
        send({ type: 'error', message: (err as Error).stack ?? String(err) });
      }
    }
  });
  send({ type: 'started', url });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
  process.exit(1);
});
