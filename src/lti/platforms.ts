import type { LtijsProvider } from 'ltijs';
import type { Db } from '../db/database.js';
import { recordAudit } from '../db/audit.js';

export interface PlatformInput {
  issuer: string;
  clientId: string;
  name: string;
  authLoginUrl: string;
  tokenUrl: string;
  keysetUrl: string;
  deploymentIds: string[];
  productFamily?: string | undefined;
  source: 'dynamic_registration' | 'cli';
  active: boolean;
}

export interface PlatformSummary {
  issuer: string;
  clientId: string;
  name: string;
  productFamily: string | null;
  source: string;
  active: boolean;
  deploymentIds: string[];
  registeredAt: Date;
}

export class PlatformAlreadyRegisteredError extends Error {}
export class PlatformNotFoundError extends Error {}

/**
 * Platforms live in two stores: ltijs keeps the endpoints, keys and active flag (its own tables);
 * we keep the deployments and registration metadata. Writes keep both in step, undoing the ltijs
 * side if ours fails, so a registration is never half-written.
 */
export class PlatformService {
  private readonly changeListeners: Array<() => void> = [];

  constructor(
    private readonly lti: LtijsProvider,
    private readonly db: Db,
  ) {}

  /** Called after a platform is registered or removed (caches of the platform list listen). */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }

  async register(input: PlatformInput, actor: string): Promise<PlatformSummary> {
    if (await this.lti.getPlatform(input.issuer, input.clientId)) {
      throw new PlatformAlreadyRegisteredError(`A platform with issuer ${input.issuer} and client id ${input.clientId} is already registered.`);
    }
    const platform = await this.lti.registerPlatform({
      url: input.issuer,
      name: input.name,
      clientId: input.clientId,
      authenticationEndpoint: input.authLoginUrl,
      accesstokenEndpoint: input.tokenUrl,
      authConfig: { method: 'JWK_SET', key: input.keysetUrl },
    });
    try {
      await platform.platformActive(input.active);
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('platform_registration').values({
          issuer: input.issuer,
          client_id: input.clientId,
          product_family: input.productFamily ?? null,
          display_name: input.name,
          source: input.source,
        }).execute();
        if (input.deploymentIds.length) {
          await trx.insertInto('lti_deployment')
            .values([...new Set(input.deploymentIds)].map((d) => ({ issuer: input.issuer, client_id: input.clientId, deployment_id: d })))
            .execute();
        }
        await recordAudit(trx, actor, 'platform.register', `${input.issuer} ${input.clientId}`, {
          source: input.source, deploymentIds: input.deploymentIds, active: input.active, productFamily: input.productFamily ?? null,
        });
      });
    } catch (err) {
      await platform.delete();
      throw err;
    }
    this.changed();
    return this.get(input.issuer, input.clientId);
  }

  async list(): Promise<PlatformSummary[]> {
    const rows = await this.db.selectFrom('platform_registration').selectAll().orderBy('registered_at').execute();
    return Promise.all(rows.map((r) => this.summarise(r)));
  }

  async get(issuer: string, clientId: string): Promise<PlatformSummary> {
    const row = await this.db.selectFrom('platform_registration').selectAll()
      .where('issuer', '=', issuer).where('client_id', '=', clientId).executeTakeFirst();
    if (!row) throw new PlatformNotFoundError(`No platform is registered with issuer ${issuer} and client id ${clientId}.`);
    return this.summarise(row);
  }

  async setActive(issuer: string, clientId: string, active: boolean, actor: string): Promise<PlatformSummary> {
    const platform = await this.ltijsPlatform(issuer, clientId);
    await platform.platformActive(active);
    await recordAudit(this.db, actor, active ? 'platform.activate' : 'platform.deactivate', `${issuer} ${clientId}`, {});
    return this.get(issuer, clientId);
  }

  async addDeployment(issuer: string, clientId: string, deploymentId: string, actor: string): Promise<PlatformSummary> {
    await this.get(issuer, clientId);
    await this.db.insertInto('lti_deployment').values({ issuer, client_id: clientId, deployment_id: deploymentId })
      .onConflict((oc) => oc.doNothing()).execute();
    await recordAudit(this.db, actor, 'deployment.add', `${issuer} ${clientId}`, { deploymentId });
    return this.get(issuer, clientId);
  }

  async remove(issuer: string, clientId: string, actor: string): Promise<void> {
    const platform = await this.ltijsPlatform(issuer, clientId);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('platform_registration').where('issuer', '=', issuer).where('client_id', '=', clientId).execute();
      await recordAudit(trx, actor, 'platform.remove', `${issuer} ${clientId}`, {});
    });
    await platform.delete();
    this.changed();
  }

  async isDeploymentKnown(issuer: string, clientId: string, deploymentId: string): Promise<boolean> {
    const row = await this.db.selectFrom('lti_deployment').select('deployment_id')
      .where('issuer', '=', issuer).where('client_id', '=', clientId).where('deployment_id', '=', deploymentId)
      .executeTakeFirst();
    return row !== undefined;
  }

  private async ltijsPlatform(issuer: string, clientId: string) {
    const platform = await this.lti.getPlatform(issuer, clientId);
    if (!platform) throw new PlatformNotFoundError(`No platform is registered with issuer ${issuer} and client id ${clientId}.`);
    return platform;
  }

  private async summarise(row: { issuer: string; client_id: string; display_name: string; product_family: string | null; source: string; registered_at: Date }): Promise<PlatformSummary> {
    const platform = await this.lti.getPlatform(row.issuer, row.client_id);
    const deployments = await this.db.selectFrom('lti_deployment').select('deployment_id')
      .where('issuer', '=', row.issuer).where('client_id', '=', row.client_id).orderBy('added_at').execute();
    return {
      issuer: row.issuer,
      clientId: row.client_id,
      name: row.display_name,
      productFamily: row.product_family,
      source: row.source,
      active: platform ? await platform.platformActive() : false,
      deploymentIds: deployments.map((d) => d.deployment_id),
      registeredAt: row.registered_at,
    };
  }
}
