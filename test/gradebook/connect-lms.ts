import type { EmulatorOptions } from '../emulator/index.js';
import { LmsEmulator } from '../emulator/index.js';
import { SERVICE_SCOPES } from '../emulator/vocabulary.js';
import { RESOURCE_LINK, SAMPLE_COURSE, seedSampleCourse, TEACHER } from '../fixtures/sample-course.js';
import { LtiBrowser } from '../helpers/lti-client.js';
import type { TestTool } from '../helpers/tool.js';


export interface ConnectedLms {
  emu: LmsEmulator;
  clientId: string;
  /** From the launch the tool stored (lti_context), as a background sync will find them. */
  lineItemsUrl: string;
  membershipsUrl: string;
}

/**
 * A new emulated LMS with the sample course, registered by hand on both sides (as
 * launch-rejections.test.ts does), and one teacher launch so the tool holds the course's AGS and
 * NRPS endpoints.
 */
export async function connectLms(tool: TestTool, options: EmulatorOptions & { scopes?: string[] } = {}): Promise<ConnectedLms> {
  const { scopes = [...SERVICE_SCOPES], ...emulatorOptions } = options;
  const emu = new LmsEmulator(emulatorOptions);
  await emu.start();
  const registered = emu.registerTool({
    name: 'Micro-credentials', initiateLoginUri: `${tool.url}/lti/login`, redirectUris: [`${tool.url}/lti/launch`],
    targetLinkUri: `${tool.url}/lti/launch`, jwksUri: `${tool.url}/lti/keys`, scopes,
  });
  const { clientId, deploymentId } = registered;
  await tool.app.platforms.register({
    issuer: emu.url, clientId, name: emu.flavor, authLoginUrl: emu.endpoints.authorization, tokenUrl: emu.endpoints.token,
    keysetUrl: emu.endpoints.jwks, deploymentIds: [deploymentId], source: 'cli', active: true,
  }, 'test');
  seedSampleCourse(emu, clientId);
  const page = await new LtiBrowser().launch(emu, { userId: TEACHER.id, courseId: SAMPLE_COURSE.id, resourceLinkId: RESOURCE_LINK.id, clientId });
  if (page.status !== 200) throw new Error(`teacher launch failed with ${page.status}`);
  const context = await tool.database.db.selectFrom('lti_context').select(['ags_lineitems_url', 'nrps_memberships_url'])
    .where('issuer', '=', emu.url).where('client_id', '=', clientId).executeTakeFirstOrThrow();
  emu.requests.length = 0;
  return { emu, clientId, lineItemsUrl: context.ags_lineitems_url!, membershipsUrl: context.nrps_memberships_url! };
}

/** An injected sleep that returns at once and remembers what it was asked to wait. */
export function recordingSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return { waits, sleep: async (ms) => void waits.push(ms) };
}

/** A credential in the tool's one course: every quiz at `minPercent` or more. Returns the course and the credential's id. */
export async function defineQuizCredential(tool: TestTool, minPercent: number): Promise<{ course: { contextRef: string; issuer: string; clientId: string }; credentialId: string }> {
  const ctx = await tool.database.db.selectFrom('lti_context').select(['id', 'issuer', 'client_id']).executeTakeFirstOrThrow();
  const course = { contextRef: ctx.id, issuer: ctx.issuer, clientId: ctx.client_id };
  const saved = await tool.app.definitions.create(course, {
    definition: {
      name: 'Quizzes', description: 'All quizzes passed.', criteriaNarrative: `Quizzes ≥ ${minPercent}%`, language: 'en', version: '1', learningOutcomes: ['Explain data types'],
      workloadHours: 5, eqfLevel: 4, assessmentTypes: ['test'], participation: 'online', qualityAssurance: 'Internal', awardingBody: { name: 'Example University' }, awardingCountry: 'JP',
    },
    criteria: { type: 'score', select: { tag: 'quiz' }, minPercent },
  }, await tool.app.awarding.courseLineItems(ctx.id), 'teacher');
  if (!saved.ok) throw new Error(`the credential was not saved: ${JSON.stringify(saved)}`);
  return { course, credentialId: saved.credential.id };
}
