import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Definition } from '../credentials/definition-schema.js';
import type { Db } from '../db/database.js';
import { credentialTextOf } from '../issuance/baking.js';
import { buildAchievement, buildPathwayAchievement, extensionContext } from '../issuance/credential.js';
import type { PathwayDefinition } from '../credentials/pathway-schema.js';
import { CREDENTIALS_V2, OPEN_BADGES_V3 } from '../issuance/contexts.js';
import type { IssuanceService, IssuedRow } from '../issuance/issuance-service.js';
import { IssuerNotFoundError, issuerInput, type IssuerService } from '../issuance/issuers.js';
import { parseCredentialText, type VerificationReport } from '../issuance/verification.js';
import { handle } from './async-handler.js';
import { LANGUAGES, translator, type Language } from './i18n.js';
import { renderError, renderPage, requestLanguage } from './render.js';

interface Deps {
  db: Db;
  issuers: IssuerService;
  issuance: IssuanceService;
  publicUrl: string;
}

/** A credential up to this size verifies; a baked image may be larger than its credential. */
const MAX_CREDENTIAL_BYTES = '2mb';
const MAX_IMAGE_BYTES = '5mb';
const slug = issuerInput.shape.slug;
const CREDENTIAL_TEXT_TYPES = new Set(['application/json', 'application/ld+json', 'application/vc+ld+json', 'text/plain']);
/** body-parser's type-is cannot parse a media type with two "+" (application/vc+ld+json), so the type is matched here. */
const isCredentialText = (req: { headers: Record<string, string | string[] | undefined> }) => CREDENTIAL_TEXT_TYPES.has(String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase());
const uuid = z.string().uuid();

/** Each check's verdict in both languages, for API clients that show either. */
export function localizeReport(report: VerificationReport, lang: Language) {
  const say = (l: Language, key: string, params?: Record<string, string>) => translator(l)(key, params ?? {});
  return {
    verdict: report.verdict,
    message: say(lang, `verify.verdict.${report.verdict}`),
    credential: report.credential ?? null,
    checks: report.checks.map((c) => ({
      ...c,
      message: say(lang, `verify.detail.${c.detail}`, c.params),
      messages: Object.fromEntries(LANGUAGES.map((l) => [l, `${say(l, `verify.check.${c.check}`)}: ${say(l, `verify.detail.${c.detail}`, c.params)}`])),
    })),
  };
}

/**
 * Public documents of issuance (DID documents, issuer profiles, achievements, status lists, shared
 * credentials) and verification, which anyone may use without a launch.
 */
export function issuanceRoutes({ db, issuers, issuance, publicUrl }: Deps): Router {
  const router = Router();
  const verify = (credential: unknown) => issuance.verify(credential);

  const profileOr404 = async (req: Request, res: Response) => {
    const s = slug.safeParse(req.params.slug);
    try {
      if (s.success) return await issuers.bySlug(s.data);
    } catch (err) {
      if (!(err instanceof IssuerNotFoundError)) throw err;
    }
    renderError(req, res, 404, { reason: 'not_found' });
    return undefined;
  };

  router.get('/issuers/:slug/did.json', handle(async (req: Request, res: Response) => {
    const issuer = await profileOr404(req, res);
    if (issuer) res.type('application/did+ld+json').set('Cache-Control', 'public, max-age=300').send(JSON.stringify(await issuers.didDocument(issuer)));
  }));

  router.get('/issuers/:slug', handle(async (req: Request, res: Response) => {
    const issuer = await profileOr404(req, res);
    if (issuer) res.type('application/ld+json').set('Cache-Control', 'public, max-age=300').send(JSON.stringify(issuers.publicProfile(issuer)));
  }));

  router.get('/achievements/:credentialId/:revision', handle(async (req: Request, res: Response) => {
    const id = uuid.safeParse(req.params.credentialId);
    const revision = z.coerce.number().int().min(1).max(1_000_000).safeParse(req.params.revision);
    const row = id.success && revision.success
      ? await db.selectFrom('credential_revision').select('definition').where('credential_id', '=', id.data).where('revision', '=', revision.data).executeTakeFirst()
      : undefined;
    if (!row) return renderError(req, res, 404, { reason: 'not_found' });
    const issuer = issuers.profileOf(await issuers.defaultIssuer());
    res.type('application/ld+json').set('Cache-Control', 'public, max-age=300').send(JSON.stringify({
      '@context': [CREDENTIALS_V2, OPEN_BADGES_V3, extensionContext(publicUrl).url],
      ...buildAchievement(row.definition as unknown as Definition, issuance.achievementUrl(id.data!, revision.data!), issuer.id),
    }));
  }));

  router.get('/pathways/:pathwayId/:revision', handle(async (req: Request, res: Response) => {
    const id = uuid.safeParse(req.params.pathwayId);
    const revision = z.coerce.number().int().min(1).max(1_000_000).safeParse(req.params.revision);
    const row = id.success && revision.success
      ? await db.selectFrom('pathway_revision as r').innerJoin('pathway as p', 'p.id', 'r.pathway_id').select(['r.definition', 'p.issuer_id'])
        .where('r.pathway_id', '=', id.data).where('r.revision', '=', revision.data).executeTakeFirst()
      : undefined;
    if (!row) return renderError(req, res, 404, { reason: 'not_found' });
    const issuer = issuers.profileOf(await issuers.byId(row.issuer_id));
    res.type('application/ld+json').set('Cache-Control', 'public, max-age=300').send(JSON.stringify({
      '@context': [CREDENTIALS_V2, OPEN_BADGES_V3],
      ...buildPathwayAchievement(row.definition as unknown as PathwayDefinition, `${publicUrl}/pathways/${id.data}/${revision.data}`, issuer),
    }));
  }));

  router.get('/status/:id', handle(async (req: Request, res: Response) => {
    const id = /^[1-9]\d{0,17}$/.test(String(req.params.id)) ? String(req.params.id) : undefined;
    const list = id && (await issuance.publishedStatusList(id));
    if (!list) return renderError(req, res, 404, { reason: 'not_found' });
    // Short-lived: a revocation must reach verifiers soon.
    res.type('application/vc+ld+json').set('Cache-Control', 'public, max-age=60').send(JSON.stringify(list));
  }));

  /** A credential its holder chose to share; nothing otherwise, not even whether it exists. */
  const shared = async (id: unknown) => {
    const parsed = uuid.safeParse(id);
    const row = parsed.success ? await issuance.byId(parsed.data) : undefined;
    return row?.share_enabled ? row : undefined;
  };
  const renderShared = async (req: Request, res: Response, row: IssuedRow) => renderPage(req, res, 200, 'verify', {
    report: localizeReport(await verify(row.document), requestLanguage(req, res)), shared: { id: row.id, json: `/credentials/${row.id}/credential.json` }, pasted: '',
  });

  router.get('/credentials/:id/credential.json', handle(async (req: Request, res: Response) => {
    const row = await shared(req.params.id);
    if (!row) return renderError(req, res, 404, { reason: 'not_shared' });
    // attachment() sets the type from the file name; ours must win.
    res.attachment(`credential-${row.id}.json`).type('application/vc+ld+json').send(JSON.stringify(row.document, null, 2));
  }));

  router.get('/credentials/:id', handle(async (req: Request, res: Response) => {
    const row = await shared(req.params.id);
    if (!row) return renderError(req, res, 404, { reason: 'not_shared' });
    await renderShared(req, res, row);
  }));

  /** Arriving from a share link or a certificate's QR code: the report, once the holder shares it. */
  router.get('/verify', handle(async (req: Request, res: Response) => {
    if (req.query.credential === undefined) return renderPage(req, res, 200, 'verify', { report: null, pasted: '' });
    const row = await shared(req.query.credential);
    if (row) return renderShared(req, res, row);
    renderPage(req, res, 200, 'verify', { report: null, notShared: true, pasted: '' });
  }));

  // The page's form works without script: the pasted JSON comes back with its report.
  router.post('/verify', express.urlencoded({ extended: false, limit: MAX_CREDENTIAL_BYTES }), handle(async (req: Request, res: Response) => {
    const text = typeof req.body?.credential === 'string' ? req.body.credential : '';
    const parsed = parseCredentialText(text);
    const report = 'report' in parsed ? parsed.report : await verify(parsed.credential);
    renderPage(req, res, 200, 'verify', { report: localizeReport(report, requestLanguage(req, res)), pasted: text });
  }));

  /** JSON in the body, or a baked PNG or SVG; the answer is always a report, never an error page for bad content. */
  // JSON is read as text and parsed here, so that a truncated body gets a report like any other bad credential.
  router.post('/api/v1/verify',
    express.text({ limit: MAX_CREDENTIAL_BYTES, type: isCredentialText }),
    express.raw({ limit: MAX_IMAGE_BYTES, type: ['image/png', 'image/svg+xml'] }),
    handle(async (req: Request, res: Response) => {
      const lang = requestLanguage(req, res);
      const body = credentialTextOf(req.body);
      if ('notBaked' in body) return res.json(localizeReport({ verdict: 'invalid', checks: [{ check: 'format', outcome: 'failed', detail: 'not_baked', params: { error: body.notBaked } }] }, lang));
      if ('unsupported' in body) return res.status(415).json({ error: 'unsupported_media_type', message: translator(lang)('verify.unsupported') });
      const parsed = parseCredentialText(body.text);
      res.json(localizeReport('report' in parsed ? parsed.report : await verify(parsed.credential), lang));
    }));
  // A GET here would fall through to the session routes and answer 401.
  router.get('/api/v1/verify', (req: Request, res: Response) => {
    res.set('allow', 'POST');
    renderError(req, res, 405, { reason: 'method_not_allowed' });
  });

  return router;
}
