import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import * as jose from 'jose';

/** The tool side of the key exchange for emulator tests: a JWKS on 127.0.0.1 and a signer for its key. */
export class FakeTool {
  private constructor(
    readonly url: string,
    readonly kid: string,
    private readonly server: Server,
    private readonly privateKey: jose.KeyLike,
    private readonly unpublishedKey: jose.KeyLike,
  ) {}

  static async start(): Promise<FakeTool> {
    const published = await jose.generateKeyPair('RS256', { extractable: true });
    const unpublished = await jose.generateKeyPair('RS256');
    const kid = randomBytes(8).toString('hex');
    const jwk = { ...(await jose.exportJWK(published.publicKey)), kid, alg: 'RS256', use: 'sig' };
    const app = express();
    app.get('/keys', (_req, res) => {
      res.json({ keys: [jwk] });
    });
    const server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return new FakeTool(url, kid, server, published.privateKey, unpublished.privateKey);
  }

  get jwksUri(): string {
    return `${this.url}/keys`;
  }

  get loginUri(): string {
    return `${this.url}/login`;
  }

  get launchUri(): string {
    return `${this.url}/launch`;
  }

  get deepLinkingUri(): string {
    return `${this.url}/deeplink`;
  }

  /** Signs with the published key, or with a key the JWKS does not contain (same kid). */
  sign(claims: Record<string, unknown>, key: 'published' | 'unpublished' = 'published'): Promise<string> {
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'JWT' })
      .sign(key === 'published' ? this.privateKey : this.unpublishedKey);
  }

  /** A client assertion as the IMS Security Framework describes it; `overrides` replace or add claims. */
  clientAssertion(
    clientId: string,
    audience: string,
    overrides: Record<string, unknown> = {},
    key: 'published' | 'unpublished' = 'published',
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return this.sign(
      { iss: clientId, sub: clientId, aud: audience, iat: now, exp: now + 60, jti: randomBytes(12).toString('hex'), ...overrides },
      key,
    );
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      this.server.closeAllConnections();
    });
  }
}
