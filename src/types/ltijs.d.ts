// The parts of ltijs 5.9 and ltijs-sequelize 2.4 this tool uses (neither ships type declarations).
declare module 'ltijs' {
  import type { Express, Request, Response, NextFunction } from 'express';

  export interface LtijsPlatform {
    platformUrl(): Promise<string>;
    platformClientId(): Promise<string>;
    platformName(): Promise<string>;
    platformId(): Promise<string>;
    platformKid(): Promise<string>;
    platformActive(active?: boolean): Promise<boolean>;
    platformAuthEndpoint(): Promise<string>;
    platformAccessTokenEndpoint(): Promise<string>;
    /** The token audience; ltijs returns the token endpoint when no authorization server was registered. */
    platformAuthorizationServer(): Promise<string>;
    /** PEM (PKCS#1) of the tool's private key for this platform, decrypted. */
    platformPrivateKey(): Promise<string>;
    platformAuthConfig(): Promise<{ method: 'JWK_SET' | 'JWK_KEY' | 'RSA_KEY'; key: string }>;
    platformAccessToken(scopes: string): Promise<{ access_token: string; token_type: string; expires_in: number; scope: string }>;
    delete(): Promise<boolean>;
  }

  export interface LtijsPlatformInput {
    url: string;
    name: string;
    clientId: string;
    authenticationEndpoint: string;
    accesstokenEndpoint: string;
    authorizationServer?: string;
    authConfig: { method: 'JWK_SET' | 'JWK_KEY' | 'RSA_KEY'; key: string };
  }

  /** The id_token data ltijs keeps for a session (res.locals.token). */
  export interface LtijsIdToken {
    iss: string;
    user: string;
    userInfo: { given_name?: string; family_name?: string; name?: string; email?: string };
    platformInfo?: { name?: string; product_family_code?: string };
    clientId: string;
    platformId: string;
    deploymentId: string;
    platformContext: LtijsContextToken;
  }

  export interface LtijsContextToken {
    contextId: string;
    user: string;
    context?: { id: string; label?: string; title?: string };
    resource?: { id: string; title?: string };
    messageType: 'LtiResourceLinkRequest' | 'LtiDeepLinkingRequest';
    roles: string[];
    targetLinkUri?: string;
    custom?: Record<string, string>;
    launchPresentation?: { locale?: string; document_target?: string; return_url?: string };
    deepLinkingSettings?: { deep_link_return_url: string; accept_types?: string[]; data?: string };
    /** The AGS endpoint claim. */
    endpoint?: { scope?: string[]; lineitems?: string; lineitem?: string };
    /** The NRPS claim. */
    namesRoles?: { context_memberships_url?: string; service_versions?: string[] };
  }

  type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

  export interface LtijsProvider {
    app: Express;
    Database: { setup(): Promise<boolean>; Close(): Promise<void> };
    DeepLinking: {
      /** The signed LtiDeepLinkingResponse JWT. */
      createDeepLinkingMessage(idtoken: LtijsIdToken, contentItems: unknown[], options?: { message?: string; log?: string }): Promise<string>;
    };
    setup(key: string, database: { plugin: unknown }, options: Record<string, unknown>): LtijsProvider;
    onConnect(cb: (token: LtijsIdToken, req: Request, res: Response, next: NextFunction) => unknown): true;
    onDeepLinking(cb: (token: LtijsIdToken, req: Request, res: Response, next: NextFunction) => unknown): true;
    onInvalidToken(cb: Handler): true;
    onSessionTimeout(cb: Handler): true;
    onUnregisteredPlatform(cb: Handler): true;
    onInactivePlatform(cb: Handler): true;
    registerPlatform(platform: LtijsPlatformInput): Promise<LtijsPlatform>;
    getPlatform(url: string, clientId: string): Promise<LtijsPlatform | false>;
    getPlatform(url: string): Promise<LtijsPlatform[] | false>;
    getAllPlatforms(): Promise<LtijsPlatform[]>;
    deletePlatform(url: string, clientId: string): Promise<boolean>;
    redirect(res: Response, path: string, options?: { newResource?: boolean; query?: Record<string, string> }): Promise<void>;
  }

  const ltijs: { Provider: LtijsProvider };
  export default ltijs;
}

declare module 'ltijs-sequelize' {
  export default class LtijsSequelize {
    constructor(database: string, user: string, password: string | undefined, options: Record<string, unknown>);
    Get(...args: unknown[]): Promise<unknown>;
    Insert(...args: unknown[]): Promise<unknown>;
    Replace(...args: unknown[]): Promise<unknown>;
    Modify(...args: unknown[]): Promise<unknown>;
    Delete(...args: unknown[]): Promise<unknown>;
    Encrypt(data: string, secret: string): Promise<{ iv: string; data: string }>;
  }
}

declare module 'ltijs/dist/Utils/Auth.js' {
  interface KeyStore {
    Get(key: string | false, table: string, info: Record<string, unknown>): Promise<unknown>;
    Replace(key: string | false, table: string, info: Record<string, unknown>, item: Record<string, unknown>, index?: Record<string, unknown>): Promise<boolean>;
  }
  const Auth: {
    /** Makes and stores a platform's RSA key pair; returns its kid. */
    generatePlatformKeyPair(encryptionKey: string, database: KeyStore, platformUrl: string, clientId: string): Promise<string>;
  };
  export default Auth;
}
