import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CREDENTIALS_V2, DID_V1, MULTIKEY_V1, OPEN_BADGES_V3 } from '../../src/issuance/contexts.js';
import { offlineDocumentLoader, UnresolvableUrlError } from '../../src/issuance/document-loader.js';
import { generateIssuerKey, openIssuerKey, sealingKey, unseal, UnsealError, verificationMethod, type IssuerKey } from '../../src/issuance/keys.js';
import { signCredential, verifyProof } from '../../src/issuance/signing.js';
import { SigningPool } from '../../src/issuance/signing-pool.js';
import { definitionSchema } from '../../src/credentials/definition-schema.js';
import { buildOpenBadgeCredential, extensionContext, identityHash, type CredentialInput } from '../../src/issuance/credential.js';
import { gzipSync } from 'node:zlib';
import { STATUS_LIST_BITS, StatusBits, StatusListError, statusListCredential, statusListEntry } from '../../src/issuance/status-list.js';

const schema = JSON.parse(readFileSync('config/schemas/ob_v3p0_achievementcredential.schema.json', 'utf8')) as object;
const ajv = new Ajv2019.default({ allErrors: true, strict: false });
addFormats.default(ajv);
const validateSchema = ajv.compile(schema);

const DID = 'did:web:badges.example.ac.jp';
const sealing = sealingKey('0123456789abcdef0123456789abcdef');
let key: IssuerKey;

const PUBLIC_URL = 'https://badges.example.ac.jp';
const extension = extensionContext(PUBLIC_URL);

/** The issuer's own documents, as the tool will serve them: its DID document, its keys, its extension context. */
function ownDocuments(keys: IssuerKey[]) {
  return async (url: string) => {
    if (url === extension.url) return extension.document;
    const vm = keys.find((k) => k.id === url);
    if (vm) return verificationMethod(vm);
    if (url === DID) {
      return {
        '@context': [DID_V1, MULTIKEY_V1], id: DID,
        verificationMethod: keys.map((k) => verificationMethod(k)), assertionMethod: keys.map((k) => k.id),
      };
    }
    return undefined;
  };
}

function credential(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@context': [CREDENTIALS_V2, OPEN_BADGES_V3],
    id: 'urn:uuid:8f3c1d0e-5b1a-4c55-9d5e-2a6b7c8d9e0f',
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name: 'データサイエンス入門 修了証',
    issuer: { id: DID, type: ['Profile'], name: '東京未来大学 / Tokyo Mirai University', url: 'https://www.example.ac.jp/' },
    validFrom: '2026-12-01T00:00:00Z',
    credentialSubject: {
      type: ['AchievementSubject'],
      identifier: [{ type: 'IdentityObject', hashed: true, identityHash: 'sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399', identityType: 'emailAddress', salt: 'Kosher' }],
      achievement: {
        id: 'https://badges.example.ac.jp/achievements/ds101',
        type: ['Achievement'],
        achievementType: 'MicroCredential',
        name: 'データサイエンス入門',
        description: 'Python でデータを読み、可視化し、簡単なモデルを作る。',
        criteria: { narrative: '小テストの平均 60% 以上、期末試験 50% 以上。' },
        creditsAvailable: 3,
        inLanguage: 'ja',
      },
    },
    ...overrides,
  };
}

beforeAll(async () => {
  key = await generateIssuerKey(DID, `${DID}#key-1`, sealing);
});

describe('issuer keys', () => {
  test('the secret is stored only sealed, bound to its key id, and opens only with the installation key', async () => {
    expect(JSON.stringify(key)).not.toMatch(/secretKeyMultibase/);
    expect(key.publicKeyMultibase).toMatch(/^z6Mk/);
    const pair = await openIssuerKey(key, sealing);
    expect(pair.publicKeyMultibase).toBe(key.publicKeyMultibase);
    expect(() => unseal(key.sealedSecret, sealingKey('another installation secret, 32+ chars'), key.id)).toThrow(UnsealError);
    // Moved to another key's record, it does not open either.
    expect(() => unseal(key.sealedSecret, sealing, `${DID}#key-2`)).toThrow(UnsealError);
    expect(() => unseal('short', sealing, key.id)).toThrow(/truncated/);
  });
});

describe('signing and verifying with eddsa-rdfc-2022, offline', () => {
  const loader = () => offlineDocumentLoader(ownDocuments([key]));

  test('a signed OpenBadgeCredential verifies and validates against the 1EdTech schema', async () => {
    const signed = await signCredential(credential(), await openIssuerKey(key, sealing), loader());
    expect(signed.proof).toMatchObject([{ type: 'DataIntegrityProof', cryptosuite: 'eddsa-rdfc-2022', proofPurpose: 'assertionMethod', verificationMethod: key.id }]);
    expect(await verifyProof(signed, loader())).toEqual({ verified: true });
    const valid = validateSchema(signed);
    expect(validateSchema.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  test('signing leaves the credential it is given as it was', async () => {
    const unsigned = credential();
    await signCredential(unsigned, await openIssuerKey(key, sealing), loader());
    expect(unsigned).toEqual(credential());
  });

  test('a tampered field, a proof from another key, and an expired credential fail', async () => {
    const pair = await openIssuerKey(key, sealing);
    const signed = await signCredential(credential({ validUntil: '2027-12-01T00:00:00Z' }), pair, loader());
    const tampered = structuredClone(signed);
    ((tampered.credentialSubject as { achievement: { name: string } }).achievement).name = 'データサイエンス上級';
    expect(await verifyProof(tampered, loader())).toMatchObject({ verified: false });

    // A key the issuer's DID document does not list cannot sign for it.
    const stranger = await generateIssuerKey(DID, `${DID}#key-9`, sealing);
    const forged = await signCredential(credential(), await openIssuerKey(stranger, sealing), offlineDocumentLoader(ownDocuments([key, stranger])));
    expect(await verifyProof(forged, loader())).toMatchObject({ verified: false });

    expect(await verifyProof(signed, loader(), new Date('2028-01-01T00:00:00Z'))).toMatchObject({ verified: false, error: expect.stringMatching(/validUntil|expired/i) });
  });

  test('a remote @context is reported as unresolvable and never fetched', async () => {
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.end('{"@context": {}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const remote = `http://127.0.0.1:${(server.address() as AddressInfo).port}/context.json`;
    try {
      const signed = await signCredential(credential(), await openIssuerKey(key, sealing), loader());
      const withRemote = { ...signed, '@context': [...(signed['@context'] as string[]), remote] };
      const check = await verifyProof(withRemote, loader());
      expect(check.verified).toBe(false);
      expect(check.error).toContain(remote);
      await expect(loader()(remote)).rejects.toThrow(UnresolvableUrlError);
      expect(requests).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe('the OpenBadgeCredential built from a definition', () => {
  const definition = definitionSchema.parse({
    name: 'データサイエンス入門', description: 'Python でデータを読み、可視化し、簡単なモデルを作る。',
    criteriaNarrative: '小テストの平均 60% 以上、期末試験 50% 以上。', language: 'ja', version: '2026',
    image: { url: 'https://badges.example.ac.jp/images/ds101.png', caption: 'DS101' }, tags: ['データサイエンス', 'Python'],
    alignments: [{ targetName: 'Python (computer programming)', targetUrl: 'http://data.europa.eu/esco/skill/ccd0a1d9-afda-43d9-b901-96344886e14d', targetFramework: 'ESCO', targetType: 'ext:ESCOSkill' }],
    learningOutcomes: ['データの種類を説明できる', 'Python で記述統計を計算できる'], workloadHours: 30, ectsCredits: 1.5, eqfLevel: 5, nqfLevel: 'JP level 5',
    assessmentTypes: ['test', 'exam'], participation: 'online', qualityAssurance: '教務委員会による審査', awardingBody: { name: '東京未来大学', url: 'https://www.example.ac.jp/' },
    awardingCountry: 'JP', prerequisitesText: '高校数学', supervision: 'supervised_online', identityVerified: true, stackability: 'Counts toward the Data Science certificate',
  });
  const input = (): CredentialInput => ({
    id: 'urn:uuid:0b8e7c1a-2f4d-4e6b-9a1c-3d5e7f9b1c2d', achievementId: `${PUBLIC_URL}/achievements/7d3f/1`, definition,
    issuer: { id: DID, name: '東京未来大学', url: 'https://www.example.ac.jp/', email: 'badges@example.ac.jp', countryCode: 'JP' },
    learner: { userId: 'moodle-user-42', platformIssuer: 'https://moodle.example.ac.jp', email: 'Hanako.Yamada@example.ac.jp' },
    salt: 'c2FsdC0xMjM', course: { title: 'DS101 データサイエンス入門', url: 'https://moodle.example.ac.jp/course/view.php?id=3' },
    activity: { startDate: '2026-10-01T00:00:00Z', endDate: '2026-11-30T00:00:00Z' }, validFrom: '2026-12-01T00:00:00Z', extensionContextUrl: extension.url,
  });
  const loader = () => offlineDocumentLoader(ownDocuments([key]));

  test('carries every EU element, signs with no undefined term, verifies and validates against the 1EdTech schema', async () => {
    const built = buildOpenBadgeCredential(input());
    const achievement = (built.credentialSubject as { achievement: Record<string, unknown> }).achievement;
    expect(achievement).toMatchObject({
      achievementType: 'MicroCredential', creditsAvailable: 1.5, creditSystem: 'ECTS', inLanguage: 'ja', version: '2026',
      learningOutcome: definition.learningOutcomes, workloadHours: 30, nqfLevel: 'JP level 5', assessmentType: ['test', 'exam'], participationMode: 'online',
      qualityAssurance: '教務委員会による審査', prerequisites: '高校数学', supervision: 'supervised_online', identityVerified: true,
      creator: { name: '東京未来大学', address: { addressCountryCode: 'JP' } },
    });
    expect(achievement.alignment).toEqual(expect.arrayContaining([expect.objectContaining({ targetUrl: 'http://data.europa.eu/snb/eqf/5', targetType: 'ext:EQFLevel' })]));
    // The email only as a salted hash, lower-cased first.
    expect(JSON.stringify(built)).not.toContain('Hanako');
    expect((built.credentialSubject as { identifier: unknown[] }).identifier).toContainEqual(expect.objectContaining({ identityHash: identityHash('hanako.yamada@example.ac.jp', 'c2FsdC0xMjM'), identityType: 'emailAddress' }));

    const signed = await signCredential(built, await openIssuerKey(key, sealing), loader());
    expect(await verifyProof(signed, loader())).toEqual({ verified: true });
    expect(validateSchema(signed)).toBe(true);
  });

  test('a term that no context defines is refused at signing', async () => {
    const built = buildOpenBadgeCredential(input());
    (built.credentialSubject as { achievement: Record<string, unknown> }).achievement.mysteryField = 'x';
    await expect(signCredential(built, await openIssuerKey(key, sealing), loader())).rejects.toThrow(/mysteryField|undefined|safe mode/i);
  });
});

describe('Bitstring Status List', () => {
  const LIST = `${PUBLIC_URL}/status/revocation/1`;
  const loader = () => offlineDocumentLoader(ownDocuments([key]));

  test('bits are most-significant first, round-trip through encodedList, and refuse out-of-range indexes', () => {
    const bits = StatusBits.empty();
    bits.set(0, true);
    bits.set(94_567, true);
    bits.set(STATUS_LIST_BITS - 1, true);
    const encoded = bits.encode();
    expect(encoded.startsWith('u')).toBe(true);
    const raw = Buffer.from(encoded.slice(1), 'base64url');
    expect(raw[0]).toBe(0x1f); // GZIP
    const again = StatusBits.decode(encoded);
    expect([0, 1, 94_566, 94_567, STATUS_LIST_BITS - 1].map((i) => again.get(i))).toEqual([true, false, false, true, true]);
    again.set(94_567, false);
    expect(again.get(94_567)).toBe(false);
    expect(() => bits.set(STATUS_LIST_BITS, true)).toThrow(StatusListError);
    expect(() => bits.get(-1)).toThrow(StatusListError);
    expect(() => statusListEntry(LIST, 1.5, 'revocation')).toThrow(StatusListError);
  });

  test('an encodedList that is not base64url, not GZIP, too short or a decompression bomb is refused', () => {
    expect(() => StatusBits.decode('zABC')).toThrow(/multibase/);
    expect(() => StatusBits.decode('uAAAA')).toThrow(StatusListError);
    expect(() => StatusBits.decode(`u${gzipSync(Buffer.alloc(100)).toString('base64url')}`)).toThrow(/800 bits/);
    expect(() => StatusBits.decode(`u${gzipSync(Buffer.alloc(64 * 1024 * 1024)).toString('base64url')}`)).toThrow(StatusListError);
  });

  test('the signed status list credential verifies, and an entry keeps an OpenBadgeCredential schema-valid', async () => {
    const bits = StatusBits.empty();
    bits.set(7, true);
    const pair = await openIssuerKey(key, sealing);
    const list = await signCredential(statusListCredential({ url: LIST, issuer: DID, validFrom: '2026-12-01T00:00:00Z', purpose: 'revocation', bits }), pair, loader());
    expect(await verifyProof(list, loader())).toEqual({ verified: true });
    expect(StatusBits.decode((list.credentialSubject as { encodedList: string }).encodedList).get(7)).toBe(true);

    const badge = await signCredential(credential({ credentialStatus: statusListEntry(LIST, 7, 'revocation') }), pair, loader());
    expect(badge.credentialStatus).toEqual({ id: `${LIST}#7`, type: 'BitstringStatusListEntry', statusPurpose: 'revocation', statusListIndex: '7', statusListCredential: LIST });
    expect(validateSchema(badge)).toBe(true);
  });
});


describe('the signing pool (worker threads)', () => {
  test('signs in parallel what verifies, and a worker that dies fails only its tasks and is replaced', async () => {
    const pool = new SigningPool(2, { [extension.url]: extension.document });
    try {
      const pair = await openIssuerKey(key, sealing);
      const signed = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.sign(credential({ id: `urn:uuid:00000000-0000-4000-8000-00000000000${i}` }), pair)));
      for (const s of signed) expect(await verifyProof(s, offlineDocumentLoader(ownDocuments([key])))).toEqual({ verified: true });
      // Stop one thread as a crash would; its replacement gets the key again on first use.
      const slots = (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots;
      await slots[0]!.worker.terminate();
      const after = await Promise.all(Array.from({ length: 4 }, () => pool.sign(credential(), pair)));
      expect(after.map((s) => (s.proof as Array<{ verificationMethod: string }>)[0]!.verificationMethod)).toEqual(Array(4).fill(key.id));
    } finally {
      await pool.close();
    }
  });
});
