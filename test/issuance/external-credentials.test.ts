import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import { readFileSync } from 'node:fs';
import { bundledContexts, CREDENTIALS_V2, OPEN_BADGES_V3 } from '../../src/issuance/contexts.js';
import { identityHash } from '../../src/issuance/credential.js';
import { offlineDocumentLoader } from '../../src/issuance/document-loader.js';
import { checkExternalCredential, externalIssuerDocuments, type ExternalCredentialCheck, type TrustedIssuerKeys } from '../../src/issuance/external-credentials.js';
import { signCredential } from '../../src/issuance/signing.js';
import { MAX_PROOF_CHECK_BYTES } from '../../src/issuance/verification.js';
import { didKeyIssuer, forbidNetwork, type OtherIssuer } from '../helpers/other-issuers.js';

const schema = JSON.parse(readFileSync('config/schemas/ob_v3p0_achievementcredential.schema.json', 'utf8')) as object;
const ajv = new Ajv2019.default({ allErrors: true, strict: false });
addFormats.default(ajv);
const validateSchema = ajv.compile(schema);

/** After validFrom and before validUntil of the credentials here, whatever the machine's clock says. */
const NOW = new Date('2026-03-01T00:00:00Z');
const OTHER_UNIVERSITY = 'https://www.uni-beispielstadt.example';
const OUR_DID = 'did:web:badges.example.ac.jp:issuers:default';
const WEB_DID = 'did:web:badges.uni-beispielstadt.example';

type Issuer = OtherIssuer;
let keyIssuer: Issuer;
let webIssuer: Issuer;

function achievementCredential(issuerDid: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    '@context': [CREDENTIALS_V2, OPEN_BADGES_V3],
    id: 'urn:uuid:3c8e2f1a-9b7d-4e6c-8a5f-1d2e3f4a5b6c',
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name: 'Statistik I',
    issuer: { id: issuerDid, type: ['Profile'], name: 'Universität Beispielstadt', url: `${OTHER_UNIVERSITY}/` },
    validFrom: '2025-07-15T00:00:00Z',
    credentialSubject: {
      type: ['AchievementSubject'],
      identifier: [{ type: 'IdentityObject', hashed: true, identityHash: identityHash('hanako.yamada@example.ac.jp', 'pfeffer'), identityType: 'emailAddress', salt: 'pfeffer' }],
      achievement: {
        id: `${OTHER_UNIVERSITY}/achievements/stat-1`,
        type: ['Achievement'],
        achievementType: 'Course',
        name: 'Statistik I',
        description: 'Beschreibende und schließende Statistik.',
        criteria: { narrative: 'Klausur bestanden.' },
        creditsAvailable: 5,
      },
      creditsEarned: 5,
    },
    ...overrides,
  };
}

const signingLoader = offlineDocumentLoader();
const sign = (issuer: Issuer, overrides: Record<string, unknown> = {}) => signCredential(achievementCredential(issuer.did, overrides), issuer.pair, signingLoader, new Date('2025-07-15T00:00:00Z'));

/** Every URL the check asks for, to show it asks for nothing but bundled contexts and DIDs. */
let asked: string[] = [];
function check(input: unknown, pinned: TrustedIssuerKeys[] = [], ownDids: string[] = [OUR_DID]): Promise<ExternalCredentialCheck> {
  const loader = offlineDocumentLoader(externalIssuerDocuments(pinned));
  return checkExternalCredential(input, {
    documentLoader: async (url) => {
      asked.push(url);
      return loader(url);
    },
    isOwnIssuer: async (did) => ownDids.includes(did),
    now: NOW,
  });
}
const pinOf = (issuer: Issuer): TrustedIssuerKeys => ({ did: issuer.did, keys: [{ id: issuer.pair.id!, publicKeyMultibase: issuer.pair.publicKeyMultibase }] });

forbidNetwork();
beforeAll(async () => {
  keyIssuer = await didKeyIssuer();
  webIssuer = { did: WEB_DID, pair: await Ed25519Multikey.generate({ id: `${WEB_DID}#key-1`, controller: WEB_DID }) };
});
beforeEach(() => {
  asked = [];
});
afterEach(() => {
  // DID documents and keys come from externalIssuerDocuments(), offline.
  expect(asked.filter((url) => !bundledContexts().has(url) && !url.startsWith('did:'))).toEqual([]);
});

describe('a credential from another issuer, checked offline', () => {
  test('a did:key issuer\'s valid AchievementCredential is accepted with its issuer, achievement and credits', async () => {
    const signed = await sign(keyIssuer);
    expect(validateSchema(signed)).toBe(true);
    const result = await check(JSON.stringify(signed));
    expect(result).toEqual({
      ok: true, issuer: keyIssuer.did, achievementId: `${OTHER_UNIVERSITY}/achievements/stat-1`, achievementName: 'Statistik I', credits: 5,
      validFrom: '2025-07-15T00:00:00Z', statusChecked: 'no_status', documentHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(asked).toContain(keyIssuer.pair.id);
    // The same document with its keys in another order has the same hash.
    const reordered = Object.fromEntries(Object.entries(signed).reverse());
    expect(await check(reordered)).toMatchObject({ ok: true, documentHash: (result as { documentHash: string }).documentHash });
  });

  test('a tampered copy (credits changed) fails its proof', async () => {
    const tampered = structuredClone(await sign(keyIssuer));
    (tampered.credentialSubject as { creditsEarned: number }).creditsEarned = 50;
    expect(await check(tampered)).toMatchObject({ ok: false, reason: 'proof_invalid' });
  });

  test('a credential naming one issuer but signed with another\'s key fails its proof', async () => {
    const stranger = await didKeyIssuer();
    const forged = await signCredential(achievementCredential(keyIssuer.did), stranger.pair, signingLoader);
    expect(await check(forged)).toEqual({ ok: false, reason: 'proof_invalid', detail: expect.stringMatching(/issuer must match/) });
  });

  test('a did:web issuer resolves only with its key pinned, and only with its right key', async () => {
    const signed = await sign(webIssuer);
    expect(await check(signed)).toEqual({ ok: false, reason: 'issuer_unresolvable', detail: WEB_DID });
    expect(await check(signed, [pinOf(webIssuer)])).toMatchObject({ ok: true, issuer: WEB_DID, credits: 5 });
    const wrongKey = await Ed25519Multikey.generate();
    expect(await check(signed, [{ did: WEB_DID, keys: [{ id: `${WEB_DID}#key-1`, publicKeyMultibase: wrongKey.publicKeyMultibase }] }])).toMatchObject({ ok: false, reason: 'proof_invalid' });
  });

  test('a context that is not bundled is refused, and not fetched', async () => {
    const signed = await sign(keyIssuer);
    const foreign = 'https://contexts.uni-beispielstadt.example/v1';
    expect(await check({ ...signed, '@context': [...(signed['@context'] as string[]), foreign] })).toEqual({ ok: false, reason: 'contexts_foreign', detail: foreign });
  });

  test('expired, not yet valid, and status on another issuer\'s list', async () => {
    expect(await check(await sign(keyIssuer, { validUntil: '2026-01-31T00:00:00Z' }))).toEqual({ ok: false, reason: 'expired', detail: '2026-01-31T00:00:00Z' });
    expect(await check(await sign(keyIssuer, { validFrom: '2026-09-01T00:00:00Z' }))).toMatchObject({ ok: false, reason: 'not_yet_valid' });
    const list = `${OTHER_UNIVERSITY}/status/1`;
    const withStatus = await sign(keyIssuer, { credentialStatus: { id: `${list}#94`, type: 'BitstringStatusListEntry', statusPurpose: 'revocation', statusListIndex: '94', statusListCredential: list } });
    expect(await check(withStatus)).toMatchObject({ ok: true, statusChecked: false });
  });

  test('our own credentials, other proof types, and what is not a credential are refused with their reason', async () => {
    const ours = { did: OUR_DID, pair: await Ed25519Multikey.generate({ id: `${OUR_DID}#key-1`, controller: OUR_DID }) };
    expect(await check(await sign(ours))).toEqual({ ok: false, reason: 'own_credential' });

    const signed = await sign(keyIssuer);
    const ecdsa = { ...signed, proof: [{ ...(signed.proof as Array<Record<string, unknown>>)[0], cryptosuite: 'ecdsa-rdfc-2019' }] };
    expect(await check(ecdsa)).toMatchObject({ ok: false, reason: 'unsupported_proof' });
    const { proof: _proof, ...unsigned } = signed;
    expect(await check(unsigned)).toEqual({ ok: false, reason: 'unsupported_proof', detail: 'no_proof' });

    expect(await check('{"@context": ')).toMatchObject({ ok: false, reason: 'not_json' });
    for (const input of ['[]', 'null', '42', [signed], null]) expect(await check(input)).toEqual({ ok: false, reason: 'not_object' });
    expect(await check({ ...signed, name: 42 })).toMatchObject({ ok: false, reason: 'schema_invalid', detail: expect.stringContaining('/name') });
    expect(await check(JSON.stringify({ ...signed, padding: 'x'.repeat(MAX_PROOF_CHECK_BYTES) }))).toEqual({ ok: false, reason: 'too_large' });
    expect(await check({ ...signed, padding: 'x'.repeat(MAX_PROOF_CHECK_BYTES) })).toEqual({ ok: false, reason: 'too_large' });
  });
});

describe('externalIssuerDocuments', () => {
  test('resolves an Ed25519 did:key and pinned keys only', async () => {
    const documents = externalIssuerDocuments([pinOf(webIssuer)]);
    expect(await documents(keyIssuer.did)).toMatchObject({ id: keyIssuer.did, assertionMethod: [keyIssuer.pair.id] });
    expect(await documents(keyIssuer.pair.id!)).toMatchObject({ type: 'Multikey', controller: keyIssuer.did, publicKeyMultibase: keyIssuer.pair.publicKeyMultibase });
    expect(await documents(`${keyIssuer.did}#key-1`)).toBeUndefined();
    expect(await documents(webIssuer.pair.id!)).toMatchObject({ controller: WEB_DID, publicKeyMultibase: webIssuer.pair.publicKeyMultibase });
    expect(await documents(`${WEB_DID}#key-2`)).toBeUndefined();
    expect(await documents('did:web:elsewhere.example')).toBeUndefined();
    // A secp256k1 did:key, a z6Mk… whose multicodec header is 0xecfe, and one that is not base58: none is an Ed25519 key.
    expect(await documents('did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme')).toBeUndefined();
    expect(await documents(`did:key:z6Mk${'1'.repeat(44)}`)).toBeUndefined();
    expect(await documents(`did:key:${keyIssuer.pair.publicKeyMultibase.slice(0, -1)}0`)).toBeUndefined();
  });

  test('refuses a pinned key that is not an Ed25519 Multikey of its DID', () => {
    expect(() => externalIssuerDocuments([{ did: WEB_DID, keys: [{ id: 'did:web:elsewhere.example#key-1', publicKeyMultibase: webIssuer.pair.publicKeyMultibase }] }])).toThrow(/Ed25519 Multikey/);
    expect(() => externalIssuerDocuments([{ did: WEB_DID, keys: [{ id: `${WEB_DID}#key-1`, publicKeyMultibase: 'zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' }] }])).toThrow(/Ed25519 Multikey/);
  });
});
