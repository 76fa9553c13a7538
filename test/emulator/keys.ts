import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as jose from 'jose';
import type { SignOptions } from './types.js';

const RSA_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);

/** The platform's RSA signing key, a look-alike "foreign" key, and a secret for sealing opaque handles. */
export class PlatformKeys {
  private constructor(
    readonly kid: string,
    private readonly privateKey: jose.KeyLike,
    private readonly publicKey: jose.KeyLike,
    private readonly publicJwk: jose.JWK,
    private readonly foreignKey: jose.KeyLike,
    private readonly sealSecret: Buffer,
  ) {}

  static async generate(): Promise<PlatformKeys> {
    const platform = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const foreign = await jose.generateKeyPair('RS256', { modulusLength: 2048 });
    const kid = randomBytes(10).toString('hex');
    const publicJwk = { ...(await jose.exportJWK(platform.publicKey)), kid, alg: 'RS256', use: 'sig' };
    return new PlatformKeys(kid, platform.privateKey, platform.publicKey, publicJwk, foreign.privateKey, randomBytes(32));
  }

  jwks(): { keys: jose.JWK[] } {
    return { keys: [this.publicJwk] };
  }

  async sign(claims: Record<string, unknown>, opts: SignOptions = {}): Promise<string> {
    const alg = opts.alg ?? 'RS256';
    if (alg === 'none') return new jose.UnsecuredJWT(claims).encode();
    if (!RSA_ALGS.has(alg)) throw new Error(`unsupported signing alg ${alg}: the platform keys are RSA`);
    const key = opts.key === 'foreign' ? this.foreignKey : this.privateKey;
    return new jose.SignJWT(claims).setProtectedHeader({ alg, kid: opts.kid ?? this.kid, typ: 'JWT' }).sign(key);
  }

  /** Verifies a JWT this platform signed itself (registration tokens). */
  async verifyOwn(token: string): Promise<jose.JWTPayload> {
    const { payload } = await jose.jwtVerify(token, this.publicKey, { algorithms: ['RS256'] });
    return payload;
  }

  /** An HMAC-sealed, URL-safe encoding of `payload`; tamper-evident, not secret. */
  seal(payload: unknown): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  unseal(token: string): unknown {
    const [body, mac] = token.split('.');
    if (!body || !mac) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.sealSecret).update(body).digest('base64url');
  }
}
