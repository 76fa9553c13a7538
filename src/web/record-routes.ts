import express, { type Request, type Response } from 'express';
import type { LtijsIdToken, LtijsProvider } from 'ltijs';
import { z } from 'zod';
import type { LearnerRecords, RecordEntry } from '../credentials/learner-records.js';
import { credentialTextOf } from '../issuance/baking.js';
import { handle } from './async-handler.js';
import { translator } from './i18n.js';
import { sessionUrl } from './launch-course.js';
import { importMessage, recordCsvHeader, recordCsvLines, recordViewModel, sendCredentialFile } from './record-views.js';
import { renderError, renderPage, requestLanguage } from './render.js';

interface Deps {
  lti: LtijsProvider;
  records: LearnerRecords;
}

const uuid = z.string().uuid();
/** As at /api/v1/verify: a baked image may be larger than its credential. */
const MAX_BADGE_IMAGE_BYTES = '5mb';
const importForm = z.object({ credential: z.string().trim().min(1, 'paste a credential or choose its file') });

const accountOf = (token: LtijsIdToken) => ({ issuer: token.iss, userId: token.user });

/**
 * The launching user's own credit record: every credential of this tool's issuers across courses and
 * linked platforms, credits, pathways, and the exports. Nobody sees another learner's record here.
 */
export function recordRoutes({ lti, records }: Deps): void {
  const learnerOf = (res: Response) => records.learnerOf(accountOf(res.locals.token as LtijsIdToken));
  const downloadUrl = (res: Response) => (e: RecordEntry) => sessionUrl(`/app/record/credentials/${e.source}/${e.rowId}.json`, res);

  const page = async (req: Request, res: Response, status: number, message: { ok: boolean; text: string } | null, pasted = '') => {
    const token = res.locals.token as LtijsIdToken;
    // Pathways created since the last visit are met here too.
    const record = await records.recordAfterAwarding(await learnerOf(res), { name: token.userInfo.name, email: token.userInfo.email });
    renderPage(req, res, status, 'record', {
      ltik: res.locals.ltik as string, record: recordViewModel(record, requestLanguage(req, res), downloadUrl(res)), message, pasted,
      links: { clr: sessionUrl('/app/record/clr.json', res), csv: sessionUrl('/app/record.csv', res) },
    });
  };

  lti.app.get('/app/record', handle(async (req: Request, res: Response) => page(req, res, 200, null)));

  // The body is parsed before ltijs, within the session requests' limit (app.ts).
  lti.app.post('/app/record/imports', handle(async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    const lang = requestLanguage(req, res);
    const form = importForm.safeParse(req.body ?? {});
    if (!form.success) return page(req, res, 400, { ok: false, text: translator(lang)('record.importErrors.empty') });
    const outcome = await records.bringIn(await learnerOf(res), form.data.credential, { kind: 'learner', account: accountOf(token), email: token.userInfo.email });
    await page(req, res, outcome.ok ? 200 : 422, importMessage(outcome, lang), outcome.ok ? '' : form.data.credential);
  }));

  /** The same import for scripts and the page's file chooser: JSON, or a badge image with the credential baked in. */
  lti.app.post('/api/v1/record/imports', express.raw({ limit: MAX_BADGE_IMAGE_BYTES, type: ['image/png', 'image/svg+xml'] }), handle(async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    const lang = requestLanguage(req, res);
    // JSON arrives parsed (app.ts); an image raw.
    const body = req.is('application/json') ? { text: JSON.stringify(req.body) } : credentialTextOf(req.body);
    if ('notBaked' in body) return res.status(422).json({ error: 'not_baked', message: translator(lang)('record.importErrors.not_baked') });
    if ('unsupported' in body) return res.status(415).json({ error: 'unsupported_media_type', message: translator(lang)('record.importErrors.unsupported_media_type') });
    const outcome = await records.bringIn(await learnerOf(res), body.text, { kind: 'learner', account: accountOf(token), email: token.userInfo.email });
    const message = importMessage(outcome, lang).text;
    if (!outcome.ok) return res.status(422).json({ error: outcome.reason, message });
    res.status(201).json({ ...outcome, message });
  }));

  lti.app.post('/app/record/imports/:id/delete', handle(async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    const id = uuid.safeParse(req.params.id);
    if (!id.success || !(await records.removeImport(await learnerOf(res), id.data, `learner ${token.iss} ${token.user}`))) return renderError(req, res, 404, { reason: 'not_found' });
    res.redirect(303, sessionUrl('/app/record', res));
  }));

  lti.app.get('/app/record/credentials/:source/:id.json', handle(async (req: Request, res: Response) => {
    const entry = await records.entry(await learnerOf(res), String(req.params.source), String(req.params.id));
    if (!entry) return renderError(req, res, 404, { reason: 'not_found' });
    sendCredentialFile(res, entry);
  }));

  const clr = handle(async (req: Request, res: Response) => {
    const token = res.locals.token as LtijsIdToken;
    const learnerId = await learnerOf(res);
    const t = translator(requestLanguage(req, res));
    const name = token.userInfo.name ? t('record.clrNameOf', { name: token.userInfo.name }) : t('record.clrName');
    const signed = await records.exportClr(learnerId, name);
    if (!signed) return renderError(req, res, 409, { reason: 'record_empty' });
    res.attachment('comprehensive-learner-record.json').type('application/vc+ld+json').send(JSON.stringify(signed, null, 2));
  });
  lti.app.get('/app/record/clr.json', clr);
  lti.app.get('/api/v1/record/clr', clr);

  lti.app.get('/app/record.csv', handle(async (req: Request, res: Response) => {
    const learnerId = await learnerOf(res);
    const lang = requestLanguage(req, res);
    const record = await records.record(learnerId);
    res.status(200).type('text/csv; charset=utf-8').attachment('credit-record.csv')
      .send(recordCsvHeader(lang) + recordCsvLines(learnerId, record.accounts, record.entries, lang));
  }));

  lti.app.get('/api/v1/record', handle(async (req: Request, res: Response) => {
    const record = await records.record(await learnerOf(res));
    res.json({
      accounts: record.accounts,
      credentials: record.entries.map(({ document: _document, ...e }) => e),
      unclaimed: record.unclaimed,
      creditsBySystem: record.creditsBySystem,
      totals: record.totals,
      pathways: record.pathways.map((p) => ({ id: p.pathway.id, name: p.pathway.definition.name, satisfied: p.progress.satisfied, awarded: p.awarded?.id ?? null, progress: p.progress })),
    });
  }));
}
