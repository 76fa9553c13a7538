import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildClrCredential, type ClrInput } from '../../src/issuance/clr.js';
import { bundledContexts, CLR_V2, CREDENTIALS_V2, DID_V1, MULTIKEY_V1, OPEN_BADGES_V3 } from '../../src/issuance/contexts.js';
import { buildOpenBadgeCredential, extensionContext, type CredentialInput } from '../../src/issuance/credential.js';
import { offlineDocumentLoader, UnresolvableUrlError } from '../../src/issuance/document-loader.js';
import { generateIssuerKey, openIssuerKey, sealingKey, verificationMethod, type IssuerKey } from '../../src/issuance/keys.js';
import { signCredential, verifyProof } from '../../src/issuance/signing.js';
import { definitionSchema } from '../../src/credentials/definition-schema.js';
import { forbidNetwork } from '../helpers/other-issuers.js';

const CLR_CONTEXT_FILE = 'config/contexts/clr-v2p0-context-2.0.1.json';
/** Of 1EdTech's context as written to config/contexts; any edit changes what CLR signatures cover. */
const CLR_CONTEXT_SHA256 = 'd371397030ae9b16a37c468fac463d37ff441f3a7bb364ddfc964624c573b847';

const schema = JSON.parse(readFileSync('config/schemas/ob_v3p0_achievementcredential.schema.json', 'utf8')) as object;
const ajv = new Ajv2019.default({ allErrors: true, strict: false });
addFormats.default(ajv);
const validateSchema = ajv.compile(schema);

const PUBLIC_URL = 'https://badges.example.ac.jp';
const DID = 'did:web:badges.example.ac.jp:issuers:default';
const extension = extensionContext(PUBLIC_URL);
const sealing = sealingKey('0123456789abcdef0123456789abcdef');
let key: IssuerKey;
/** After every validFrom here, whatever the machine's clock says. */
const NOW = new Date('2027-04-02T00:00:00Z');

/** The issuer's own documents, as the tool serves them: its DID document, its key, its extension context. */
async function ownDocuments(url: string): Promise<unknown> {
  if (url === extension.url) return extension.document;
  if (url === key.id) return verificationMethod(key);
  if (url === DID) return { '@context': [DID_V1, MULTIKEY_V1], id: DID, verificationMethod: [verificationMethod(key)], assertionMethod: [key.id] };
  return undefined;
}
const loader = () => offlineDocumentLoader(ownDocuments);

const issuer = { id: DID, name: '東京未来大学', url: 'https://www.example.ac.jp/', countryCode: 'JP' };
const learner = { userId: 'moodle-user-42', platformIssuer: 'https://moodle.example.ac.jp', email: 'hanako.yamada@example.ac.jp' };

function badge(n: number, name: string): Record<string, unknown> {
  const definition = definitionSchema.parse({
    name, description: `${name}の修了`, criteriaNarrative: '期末試験 60% 以上。', language: 'ja', version: '2026', tags: [], alignments: [],
    learningOutcomes: ['説明できる'], workloadHours: 30, ectsCredits: 1.5, eqfLevel: 5, assessmentTypes: ['exam'], participation: 'online',
    qualityAssurance: '教務委員会による審査', awardingBody: { name: '東京未来大学' }, awardingCountry: 'JP',
  });
  const input: CredentialInput = {
    id: `urn:uuid:00000000-0000-4000-8000-00000000000${n}`, achievementId: `${PUBLIC_URL}/achievements/a${n}/1`, definition, issuer, learner,
    salt: `salt-${n}`, course: { title: name }, activity: {}, validFrom: '2026-12-01T00:00:00Z', extensionContextUrl: extension.url,
  };
  return buildOpenBadgeCredential(input);
}

async function signedBadges(): Promise<Array<Record<string, unknown>>> {
  const pair = await openIssuerKey(key, sealing);
  return [await signCredential(badge(1, 'データサイエンス入門'), pair, loader(), NOW), await signCredential(badge(2, '機械学習基礎'), pair, loader(), NOW)];
}

async function signedClr(): Promise<Record<string, unknown>> {
  return signCredential(buildClrCredential(clrInput(await signedBadges())), await openIssuerKey(key, sealing), loader(), NOW);
}

function clrInput(credentials: Array<Record<string, unknown>>): ClrInput {
  return {
    id: 'urn:uuid:7e1f0c2a-4b3d-4e5f-8a9b-0c1d2e3f4a5b', issuer, name: 'Comprehensive Learner Record of 山田花子', validFrom: '2027-04-01T00:00:00Z',
    identifier: [{ type: 'IdentityObject', hashed: false, identityHash: learner.userId, identityType: 'ltiUserId' }],
    credentials,
    associations: [{ associationType: 'precedes', sourceId: `${PUBLIC_URL}/achievements/a1/1`, targetId: `${PUBLIC_URL}/achievements/a2/1` }],
  };
}

const embedded = (clr: Record<string, unknown>) => (clr.credentialSubject as { verifiableCredential: Array<Record<string, unknown>> }).verifiableCredential;

beforeAll(async () => {
  key = await generateIssuerKey(DID, `${DID}#key-1`, sealing);
});

describe('the bundled CLR 2.0 context', () => {
  test('is 1EdTech\'s file unchanged, and the loader serves it', () => {
    const bytes = readFileSync(CLR_CONTEXT_FILE);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(CLR_CONTEXT_SHA256);
    expect(bundledContexts().get(CLR_V2)).toEqual(JSON.parse(bytes.toString('utf8')));
  });
});

describe('buildClrCredential', () => {
  test('puts the required contexts first, embeds the credentials whole and lists each achievement once', () => {
    const [first, second] = [badge(1, 'A'), badge(2, 'B')];
    const clr = buildClrCredential(clrInput([first!, second!, badge(1, 'A')]));
    expect(clr['@context']).toEqual([CREDENTIALS_V2, CLR_V2, OPEN_BADGES_V3, extension.url]);
    expect(clr).toMatchObject({ type: ['VerifiableCredential', 'ClrCredential'], partial: false, issuer: { id: DID, type: ['Profile'] } });
    const subject = clr.credentialSubject as Record<string, Array<Record<string, unknown>>>;
    expect(subject.type).toEqual(['ClrSubject']);
    expect(subject.achievement!.map((a) => a.id)).toEqual([`${PUBLIC_URL}/achievements/a1/1`, `${PUBLIC_URL}/achievements/a2/1`]);
    expect(subject.verifiableCredential).toHaveLength(3);
    expect(subject.association).toEqual([{ type: 'Association', associationType: 'precedes', sourceId: `${PUBLIC_URL}/achievements/a1/1`, targetId: `${PUBLIC_URL}/achievements/a2/1` }]);
    expect(buildClrCredential({ ...clrInput([first!]), associations: [] }).credentialSubject).not.toHaveProperty('association');
    expect(clr).not.toHaveProperty('description');
  });

  test('refuses a CLR without credentials', () => {
    expect(() => buildClrCredential(clrInput([]))).toThrow(/at least one credential/);
  });
});

describe('a signed ClrCredential, offline', () => {
  forbidNetwork();

  test('holding two signed credentials and an association, it verifies; so does each credential taken back out', async () => {
    const clr = await signedClr();
    expect(clr.proof).toMatchObject([{ type: 'DataIntegrityProof', cryptosuite: 'eddsa-rdfc-2022', verificationMethod: key.id }]);
    expect(await verifyProof(clr, loader(), NOW)).toEqual({ verified: true });

    const out = structuredClone(embedded(clr));
    expect(out).toHaveLength(2);
    for (const credential of out) {
      expect(await verifyProof(credential, loader(), NOW)).toEqual({ verified: true });
      expect(validateSchema(credential)).toBe(true);
    }
  });

  test('one changed achievement name in an embedded credential breaks the CLR proof', async () => {
    const clr = await signedClr();
    const tampered = structuredClone(clr);
    (embedded(tampered)[1]!.credentialSubject as { achievement: { name: string } }).achievement.name = '機械学習応用';
    expect(await verifyProof(tampered, loader(), NOW)).toMatchObject({ verified: false });
  });

  test('the loader resolves nothing it does not hold: an unknown context fails with UnresolvableUrlError', async () => {
    const remote = 'https://contexts.example.org/unknown/v1';
    await expect(loader()(remote)).rejects.toThrow(UnresolvableUrlError);
    const clr = await signedClr();
    const withRemote = { ...clr, '@context': [...(clr['@context'] as string[]), remote] };
    const check = await verifyProof(withRemote, loader(), NOW);
    expect(check.verified).toBe(false);
    expect(check.error).toContain(remote);
  });
});
