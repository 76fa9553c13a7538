import { rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config.js';
import { startTool, type RunningTool } from '../src/server.js';
import { LmsEmulator, type LaunchParams } from './emulator/index.js';
import { ADMIN, LEARNERS, RESOURCE_LINK, SAMPLE_COURSE, seedSampleCourse, TEACHER } from './fixtures/sample-course.js';

export interface Demo {
  tool: RunningTool;
  emulator: LmsEmulator;
  urls: { lmsHome: string; teacher: string; teacherEmbedded: string; learnerJa: string; learnerEn: string; admin: string; deepLinking: string };
  /** A launch URL on the emulated LMS for any user of the sample course. */
  launch(userId: string, extra?: Partial<LaunchParams>): string;
  stop(): Promise<void>;
}

/**
 * The tool on the embedded database, registered by Dynamic Registration with an emulated Moodle
 * that holds a sample course (one teacher, 30 learners, graded activities in Japanese and English).
 */
export async function startDemo(opts: { toolPort: number; lmsPort: number; dataDir: string; logStream?: NodeJS.WritableStream; crossSite?: boolean; env?: Record<string, string> }): Promise<Demo> {
  // The emulated LMS lives in memory, so the demo's database starts afresh each time to match it.
  rmSync(opts.dataDir, { recursive: true, force: true });
  const emulator = new LmsEmulator({ flavor: 'moodle', port: opts.lmsPort });
  await emulator.start();
  const config = loadConfig({ ...process.env, DATABASE_URL: '', DATA_DIR: opts.dataDir, PORT: String(opts.toolPort), PUBLIC_URL: `http://${opts.crossSite ? 'localhost' : '127.0.0.1'}:${opts.toolPort}`, LTI_DYNREG_AUTO_ACTIVATE: 'true', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...opts.env });
  const tool = await startTool(config, opts.logStream);
  const registration = await fetch(emulator.dynamicRegistrationUrl(`${config.publicUrl}/register`));
  if (!registration.ok) throw new Error(`Dynamic Registration failed with HTTP ${registration.status}`);
  const [registered] = emulator.tools();
  // Moodle holds dynamically registered tools as pending until its admin activates them.
  emulator.activateTool(registered!.clientId);
  seedSampleCourse(emulator, registered!.clientId);
  const launch = (userId: string, extra: Partial<LaunchParams> = {}) =>
    emulator.launchUrl({ userId, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId: registered!.clientId, ...extra });
  const learnerJa = LEARNERS.find((l) => l.locale === 'ja')!;
  const learnerEn = LEARNERS.find((l) => l.locale === 'en')!;
  return {
    tool,
    emulator,
    launch,
    urls: {
      lmsHome: `${emulator.url}/`,
      teacher: launch(TEACHER.id),
      teacherEmbedded: launch(TEACHER.id, { presentation: 'iframe' }),
      learnerJa: launch(learnerJa.id),
      learnerEn: launch(learnerEn.id),
      admin: launch(ADMIN.id),
      deepLinking: emulator.launchUrl({ userId: TEACHER.id, courseId: SAMPLE_COURSE.id, clientId: registered!.clientId, messageType: 'LtiDeepLinkingRequest' }),
    },
    stop: async () => {
      await tool.stop();
      await emulator.stop();
    },
  };
}

async function main(): Promise<void> {
  const toolPort = Number(process.env.PORT ?? 3000);
  const lmsPort = Number(process.env.DEMO_LMS_PORT ?? 3100);
  const demo = await startDemo({ toolPort, lmsPort, dataDir: path.resolve(process.env.DEMO_DATA_DIR ?? 'data/demo') });
  const u = demo.urls;
  process.stdout.write(`
Micro-credentials demo is running.
  Tool:          ${demo.tool.config.publicUrl}   (embedded database in ${demo.tool.config.dataDir})
  Emulated LMS:  ${u.lmsHome}   (Moodle-like; every user of the sample course can launch from here)

Open in a browser:
  Teacher (山田 花子, ja):          ${u.teacher}
  Teacher, embedded in the LMS:     ${u.teacherEmbedded}
  Learner (Japanese):               ${u.learnerJa}
  Learner (English):                ${u.learnerEn}
  LMS administrator:                ${u.admin}
  Teacher adding the tool (Deep Linking): ${u.deepLinking}

Stop with Ctrl-C.
`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      demo.stop().then(() => process.exit(0), () => process.exit(1));
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    process.stderr.write(`The demo could not start: ${err.message}\n`);
    process.exit(1);
  });
}
