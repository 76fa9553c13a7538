import { Router, type Request, type Response } from 'express';
import { sql } from 'kysely';
import { z } from 'zod';
import type { FieldError } from '../credentials/definition-schema.js';
import type { LearnerRecords, RecordEntry } from '../credentials/learner-records.js';
import { acceptedIssuerSchema, didSchema, PATHWAY_ACHIEVEMENT_TYPES, pathwayDefinitionSchema, type PathwayDefinition } from '../credentials/pathway-schema.js';
import { PathwayNotFoundError, type PathwayService, type PathwayView } from '../credentials/pathways.js';
import { CREDIT_SYSTEMS } from '../criteria/credits.js';
import { zodErrors } from '../criteria/index.js';
import type { Db } from '../db/database.js';
import type { IssuerService } from '../issuance/issuers.js';
import { access, adminError, adminPage, adminView, formFields, formList, localOnly, type AdminAccess } from './admin-page.js';
import { handle } from './async-handler.js';
import { formatNumber, translator, type Language } from './i18n.js';
import { importMessage, recordViewModel, sendCredentialFile, streamRecordsCsv } from './record-views.js';
import { requestLanguage } from './render.js';

/**
 * The registrar's screens: the other issuers whose credentials are accepted, the pathways that stack
 * credentials, and learners' records. All are installation-wide, so only the local admin changes
 * them; an LTI admin reads pathways and accepted issuers, and the records of their platform's learners.
 */

interface Deps {
  db: Db;
  issuers: IssuerService;
  pathways: PathwayService;
  records: LearnerRecords;
}

/** Field name → the message shown beside it, already in the user's language. */
type FormErrors = Record<string, string>;

const ACCEPTED_FIELDS = ['did', 'name', 'creditSystem', 'keys'] as const;
const PATHWAY_FIELDS = ['name', 'description', 'criteriaNarrative', 'achievementType', 'language', 'version', 'rule', 'count', 'external', 'minCreditsAmount', 'minCreditsSystem', 'validForMonths'] as const;
type PathwayFormValues = Partial<Record<(typeof PATHWAY_FIELDS)[number], string>> & { credentials: string[]; acceptedIssuers: string[] };

const uuid = z.string().uuid();
const didForm = z.object({ did: z.string().min(1).max(2048) });
const revokeForm = z.object({ reason: z.string().trim().min(1).max(500) });
const importForm = z.object({ credential: z.string().trim().min(1) });
const recordSearch = z.object({ issuer: z.string().trim().max(2000).optional(), userId: z.string().trim().max(500).optional() });
const editQuery = z.object({ edit: z.string().max(2048).optional(), saved: z.literal('1').optional() });

const lang = (req: Request, res: Response): Language => requestLanguage(req, res);
const t = (req: Request, res: Response) => translator(lang(req, res));
const addError = (errors: FormErrors, field: string, message: string) => { errors[field] = errors[field] ? `${errors[field]} ${message}` : message; };
const pointer = (path: string) => path.replace(/^\//, '').split('/');

/** Non-empty lines of a textarea, split on whitespace, each with its 1-based line number. */
function splitLines(text: string | undefined): Array<{ line: number; parts: string[] }> {
  return (text ?? '').split(/\r?\n/).map((l, i) => ({ line: i + 1, parts: l.trim().split(/\s+/).filter(Boolean) })).filter((l) => l.parts.length > 0);
}

/** Keys as `<key id> <publicKeyMultibase>` per line: any other line is an error naming its number. */
function acceptedIssuerInput(values: Partial<Record<(typeof ACCEPTED_FIELDS)[number], string>>) {
  const lines = splitLines(values.keys);
  const malformed = lines.filter((l) => l.parts.length !== 2).map((l) => l.line);
  const wellFormed = lines.filter((l) => l.parts.length === 2);
  return {
    input: { did: values.did ?? '', name: values.name ?? '', creditSystem: values.creditSystem ?? '', keys: wellFormed.map((l) => ({ id: l.parts[0]!, publicKeyMultibase: l.parts[1]! })) },
    keyLines: wellFormed.map((l) => l.line),
    malformed,
  };
}

function acceptedIssuerErrors(errors: FieldError[], keyLines: number[], keyCount: number, did: string, tr: ReturnType<typeof t>): FormErrors {
  const out: FormErrors = {};
  for (const e of errors) {
    const [field, index, sub] = pointer(e.path);
    const line = String(keyLines[Number(index)] ?? '');
    if (field === 'keys' && index === undefined) addError(out, 'keys', tr(keyCount === 0 ? 'admin.acceptedIssuers.errors.keysNeeded' : 'admin.acceptedIssuers.errors.keysTooMany'));
    else if (field === 'keys' && sub === 'id') addError(out, 'keys', tr('admin.acceptedIssuers.errors.keyId', { line, did }));
    else if (field === 'keys') addError(out, 'keys', tr('admin.acceptedIssuers.errors.keyMultibase', { line }));
    else if (field === 'did' || field === 'name' || field === 'creditSystem') out[field] ??= tr(`admin.acceptedIssuers.errors.${field}`);
    else addError(out, 'form', e.message);
  }
  return out;
}

/** A number field as a number; anything else is passed on as written, for the schema to refuse at its path. */
const numberOrText = (v: string | undefined) => (v === undefined ? undefined : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v);

function pathwayFormValues(body: unknown): PathwayFormValues {
  return { ...formFields(body, PATHWAY_FIELDS), credentials: formList(body, 'credentials'), acceptedIssuers: formList(body, 'acceptedIssuers') };
}

/** The definition a pathway form says; other issuers' achievements as `<issuer DID> <achievement id>` per line. */
function pathwayInput(v: PathwayFormValues) {
  const lines = splitLines(v.external);
  const wellFormed = lines.filter((l) => l.parts.length === 2);
  const input = {
    name: v.name ?? '', description: v.description ?? '', criteriaNarrative: v.criteriaNarrative ?? '', achievementType: v.achievementType ?? 'Certificate',
    language: v.language ?? '', version: v.version ?? '', rule: v.rule ?? 'allOf',
    credentials: [
      ...v.credentials.map((credentialId) => ({ kind: 'local', credentialId })),
      ...wellFormed.map((l) => ({ kind: 'external', issuer: l.parts[0]!, achievementId: l.parts[1]! })),
    ],
    acceptedIssuers: v.acceptedIssuers,
    ...(v.count !== undefined ? { count: numberOrText(v.count) } : {}),
    ...(v.minCreditsAmount !== undefined ? { minCredits: { amount: numberOrText(v.minCreditsAmount), system: v.minCreditsSystem ?? '' } } : {}),
    ...(v.validForMonths !== undefined ? { validForMonths: numberOrText(v.validForMonths) } : {}),
  };
  return { input, externals: wellFormed.map((l) => ({ line: l.line, issuer: l.parts[0]! })), malformed: lines.filter((l) => l.parts.length !== 2).map((l) => l.line) };
}

function pathwayErrors(errors: FieldError[], v: PathwayFormValues, externals: Array<{ line: number; issuer: string }>, tr: ReturnType<typeof t>): FormErrors {
  const out: FormErrors = {};
  const listed = v.credentials.length + externals.length;
  for (const e of errors) {
    const [field, index, sub] = pointer(e.path);
    const i = Number(index);
    if (field === 'credentials' && index === undefined) {
      addError(out, 'credentials', listed === 0 && v.minCreditsAmount === undefined ? tr('admin.pathway.errors.credentialsOrCredits') : listed > 100 ? e.message : tr('admin.pathway.errors.credentialsTwice'));
    } else if (field === 'credentials' && i < v.credentials.length) {
      addError(out, 'credentials', tr('admin.pathway.errors.credentialUnknown'));
    } else if (field === 'credentials') {
      const external = externals[i - v.credentials.length];
      const key = sub === 'achievementId' ? 'externalAchievement' : didSchema.safeParse(external?.issuer ?? '').success ? 'externalNotAccepted' : 'externalDid';
      addError(out, 'external', tr(`admin.pathway.errors.${key}`, { line: String(external?.line ?? '') }));
    } else if (field === 'count') {
      out.count ??= v.rule === 'atLeast' && v.count === undefined ? tr('admin.pathway.errors.countNeeded')
        : Number(v.count) > listed ? tr('admin.pathway.errors.countTooMany', { n: String(listed) }) : tr('admin.pathway.errors.count');
    } else if (field === 'minCredits') {
      out.minCreditsAmount ??= tr(sub === 'system' || index === 'system' ? 'admin.pathway.errors.choice' : 'admin.pathway.errors.minCredits');
    } else if (field === 'acceptedIssuers') {
      addError(out, 'acceptedIssuers', tr('admin.pathway.errors.acceptedIssuer', { did: v.acceptedIssuers[i] ?? '' }));
    } else if (field === 'achievementType' || field === 'rule') {
      out[field] ??= tr('admin.pathway.errors.choice');
    } else if (field && (PATHWAY_FIELDS as readonly string[]).includes(field)) {
      out[field] ??= tr(`admin.pathway.errors.${field}`);
    } else {
      addError(out, 'form', e.message);
    }
  }
  return out;
}

/**
 * The schema's cross-field rules run only once every field parses, so a form wrong in several
 * places would show these only on the next try: they are added here when the schema did not reach them.
 */
function crossFieldErrors(v: PathwayFormValues, externals: unknown[], tr: ReturnType<typeof t>, errors: FormErrors): void {
  if (v.credentials.length + externals.length === 0 && v.minCreditsAmount === undefined) errors.credentials ??= tr('admin.pathway.errors.credentialsOrCredits');
  if (v.rule === 'atLeast' && v.count === undefined) errors.count ??= tr('admin.pathway.errors.countNeeded');
}

function definitionValues(d: PathwayDefinition): PathwayFormValues {
  return {
    name: d.name, description: d.description, criteriaNarrative: d.criteriaNarrative, achievementType: d.achievementType, language: d.language, version: d.version, rule: d.rule,
    count: d.count?.toString(), minCreditsAmount: d.minCredits?.amount.toString(), minCreditsSystem: d.minCredits?.system, validForMonths: d.validForMonths?.toString(),
    external: d.credentials.flatMap((c) => (c.kind === 'external' ? [`${c.issuer} ${c.achievementId}`] : [])).join('\n'),
    credentials: d.credentials.flatMap((c) => (c.kind === 'local' ? [c.credentialId] : [])),
    acceptedIssuers: d.acceptedIssuers,
  };
}

/** How a pathway's rule reads in a list: "All of 2", "At least 2 of 3", … */
function ruleSummary(d: PathwayDefinition, tr: ReturnType<typeof t>): string {
  if (d.credentials.length === 0) return tr('admin.pathways.rules.none');
  return tr(`admin.pathways.rules.${d.rule}`, { needed: String(d.count ?? d.credentials.length), total: String(d.credentials.length) });
}

export function registrarScreens({ db, issuers, pathways, records }: Deps): Router {
  const router = Router();
  // Pathways, accepted issuers and records are the installation's, not one platform's.
  const registrarOnly = localOnly('registrarLocalOnly');

  // An LTI admin sees the learners who have an account on their platform, and no others.
  const visibleLearners = (a: AdminAccess) => db.selectFrom('learner_account').select('learner_id').$if(a.kind === 'lti', (q) => q.where('issuer', '=', a.kind === 'lti' ? a.issuer : ''));

  // ——— Accepted issuers ———

  const acceptedPage = async (req: Request, res: Response, status: number, form: { values: Record<string, string>; errors: FormErrors }, notice: string | null = null) => {
    const accepted = await pathways.acceptedIssuers();
    adminPage(req, res, status, 'accepted-issuers', { accepted, creditSystems: CREDIT_SYSTEMS, ...form, notice });
  };

  router.get('/accepted-issuers', handle(async (req: Request, res: Response) => {
    const query = editQuery.safeParse(req.query);
    if (!query.success) return adminError(req, res, 400, 'badQuery');
    const editing = query.data.edit ? (await pathways.acceptedIssuers()).find((a) => a.did === query.data.edit) : undefined;
    const values: Record<string, string> = editing ? { did: editing.did, name: editing.name, creditSystem: editing.creditSystem, keys: editing.keys.map((k) => `${k.id} ${k.publicKeyMultibase}`).join('\n') } : {};
    await acceptedPage(req, res, 200, { values, errors: {} }, query.data.saved ? t(req, res)('admin.acceptedIssuers.saved') : null);
  }));

  router.post('/accepted-issuers', registrarOnly, handle(async (req: Request, res: Response) => {
    const values = formFields(req.body, ACCEPTED_FIELDS);
    const tr = t(req, res);
    const { input, keyLines, malformed } = acceptedIssuerInput(values);
    const lineErrors: FormErrors = {};
    if (malformed.length) addError(lineErrors, 'keys', tr('admin.acceptedIssuers.errors.keyLine', { lines: malformed.join(', ') }));
    // A malformed key line saves nothing, but the other fields are still checked so every error shows at once.
    const saved = malformed.length ? { ok: false as const, errors: [] } : await pathways.acceptIssuer(input, access(res).actor);
    if (saved.ok) return res.redirect(303, adminView(access(res)).href('/accepted-issuers', { saved: 1 }));
    const parsed = malformed.length ? acceptedIssuerSchema.safeParse(input) : undefined;
    const errors = { ...acceptedIssuerErrors(parsed && !parsed.success ? zodErrors(parsed.error) : saved.errors, keyLines, input.keys.length + malformed.length, input.did, tr), ...lineErrors };
    await acceptedPage(req, res, 400, { values, errors });
  }));

  router.post('/accepted-issuers/remove', registrarOnly, handle(async (req: Request, res: Response) => {
    const form = didForm.safeParse(req.body);
    if (!form.success) return adminError(req, res, 400, 'badForm');
    const removed = await pathways.removeIssuer(form.data.did, access(res).actor);
    if (removed.ok) return res.redirect(303, adminView(access(res)).href('/accepted-issuers'));
    if (removed.reason === 'not_found') return adminError(req, res, 404, 'notFound');
    await acceptedPage(req, res, 409, { values: {}, errors: { remove: t(req, res)('admin.acceptedIssuers.inUse', { did: form.data.did }) } });
  }));

  // ——— Pathways ———

  router.get('/pathways', handle(async (req: Request, res: Response) => {
    const tr = t(req, res);
    const [all, counts] = await Promise.all([
      pathways.list({ includeArchived: true }),
      db.selectFrom('pathway_credential').select(['pathway_id', sql<number>`count(*)::int`.as('n')]).where('revoked_at', 'is', null)
        .where('learner_id', 'in', visibleLearners(access(res))).groupBy('pathway_id').execute(),
    ]);
    const awarded = new Map(counts.map((c) => [c.pathway_id, c.n]));
    adminPage(req, res, 200, 'pathways', {
      pathways: all.map((p) => ({
        id: p.id, name: p.definition.name, rule: ruleSummary(p.definition, tr), archived: p.archivedAt !== null, awarded: awarded.get(p.id) ?? 0,
        minCredits: p.definition.minCredits ? tr(`record.credits.${p.definition.minCredits.system}`, { amount: formatNumber(p.definition.minCredits.amount, lang(req, res)) }) : '—',
      })),
    });
  }));

  const pathwayOr404 = async (req: Request, res: Response): Promise<PathwayView | undefined> => {
    try {
      return await pathways.get(String(req.params.id));
    } catch (err) {
      if (!(err instanceof PathwayNotFoundError)) throw err;
      adminError(req, res, 404, 'notFound');
      return undefined;
    }
  };

  const awardsOf = async (a: AdminAccess, pathwayId: string) => {
    const rows = await db.selectFrom('pathway_credential').select(['id', 'learner_id', 'revision', 'issued_at', 'revoked_at', 'revocation_reason', 'document'])
      .where('pathway_id', '=', pathwayId).where('learner_id', 'in', visibleLearners(a)).orderBy('issued_at').execute();
    const now = new Date();
    return rows.map((r) => {
      const validUntil = typeof r.document.validUntil === 'string' ? new Date(r.document.validUntil) : undefined;
      return {
        id: r.id, learnerId: r.learner_id, revision: r.revision, issuedAt: r.issued_at, revocationReason: r.revocation_reason,
        state: r.revoked_at ? 'revoked' : validUntil && validUntil <= now ? 'expired' : 'valid',
      };
    });
  };

  const pathwayPage = async (req: Request, res: Response, status: number, pathway: PathwayView | null, form: { values: PathwayFormValues; errors: FormErrors }, extra: Record<string, unknown> = {}) => {
    const [stackable, accepted, awards] = await Promise.all([pathways.stackable(), pathways.acceptedIssuers(), pathway ? awardsOf(access(res), pathway.id) : []]);
    adminPage(req, res, status, 'pathway', {
      pathway: pathway ? { id: pathway.id, revision: pathway.revision, archived: pathway.archivedAt !== null } : null,
      stackable, accepted, awards, achievementTypes: PATHWAY_ACHIEVEMENT_TYPES, creditSystems: CREDIT_SYSTEMS, notice: null, revokeError: null, ...form, ...extra,
    });
  };

  router.get('/pathways/new', registrarOnly, handle(async (req: Request, res: Response) => {
    await pathwayPage(req, res, 200, null, { values: { achievementType: 'Certificate', rule: 'allOf', language: lang(req, res), version: '1', credentials: [], acceptedIssuers: [] }, errors: {} });
  }));

  /** Saves a pathway form: errors re-render it with everything as typed; a save makes every learner be considered again. */
  const savePathway = async (req: Request, res: Response, existing: PathwayView | null) => {
    const tr = t(req, res);
    const values = pathwayFormValues(req.body);
    const { input, externals, malformed } = pathwayInput(values);
    const actor = access(res).actor;
    let errors: FieldError[];
    if (malformed.length) {
      // A malformed line saves nothing; the rest is still checked so every error shows at once.
      const parsed = pathwayDefinitionSchema.safeParse(input);
      errors = parsed.success ? [] : zodErrors(parsed.error);
    } else {
      const saved = existing ? await pathways.update(existing.id, input, actor) : await pathways.create((await issuers.defaultIssuer()).id, input, actor);
      if (saved.ok) {
        records.reconsiderEveryone();
        return res.redirect(303, adminView(access(res)).href(`/pathways/${saved.pathway.id}`, { saved: 1 }));
      }
      errors = saved.errors;
    }
    const formErrors = pathwayErrors(errors, values, externals, tr);
    crossFieldErrors(values, externals, tr, formErrors);
    if (malformed.length) addError(formErrors, 'external', tr('admin.pathway.errors.externalLine', { lines: malformed.join(', ') }));
    await pathwayPage(req, res, 400, existing, { values, errors: formErrors });
  };

  router.post('/pathways', registrarOnly, handle(async (req: Request, res: Response) => savePathway(req, res, null)));

  router.get('/pathways/:id', handle(async (req: Request, res: Response) => {
    const pathway = await pathwayOr404(req, res);
    if (!pathway) return;
    const query = editQuery.safeParse(req.query);
    await pathwayPage(req, res, 200, pathway, { values: definitionValues(pathway.definition), errors: {} }, { notice: query.success && query.data.saved ? t(req, res)('admin.pathway.saved') : null });
  }));

  router.post('/pathways/:id', registrarOnly, handle(async (req: Request, res: Response) => {
    const pathway = await pathwayOr404(req, res);
    if (pathway) await savePathway(req, res, pathway);
  }));

  router.post('/pathways/:id/:change(archive|restore)', registrarOnly, handle(async (req: Request, res: Response) => {
    const pathway = await pathwayOr404(req, res);
    if (!pathway) return;
    const restore = req.params.change === 'restore';
    await pathways.setArchived(pathway.id, !restore, access(res).actor);
    // Learners who met it while it was archived are awarded now.
    if (restore) records.reconsiderEveryone();
    res.redirect(303, adminView(access(res)).href(`/pathways/${pathway.id}`));
  }));

  router.post('/pathways/:id/awards/:awardId/revoke', registrarOnly, handle(async (req: Request, res: Response) => {
    const pathway = await pathwayOr404(req, res);
    if (!pathway) return;
    const awardId = uuid.safeParse(req.params.awardId);
    const award = awardId.success ? await db.selectFrom('pathway_credential').select('id').where('id', '=', awardId.data).where('pathway_id', '=', pathway.id).executeTakeFirst() : undefined;
    if (!award) return adminError(req, res, 404, 'notFound');
    const form = revokeForm.safeParse(req.body);
    const values = { values: definitionValues(pathway.definition), errors: {} };
    if (!form.success) return pathwayPage(req, res, 400, pathway, values, { revokeError: { awardId: award.id, text: t(req, res)('admin.pathway.awards.reasonMissing') } });
    if (!(await records.revokePathwayCredential(award.id, access(res).actor, form.data.reason))) {
      return pathwayPage(req, res, 409, pathway, values, { revokeError: { awardId: award.id, text: t(req, res)('admin.pathway.awards.alreadyRevoked') } });
    }
    res.redirect(303, adminView(access(res)).href(`/pathways/${pathway.id}`));
  }));

  // ——— Learner records ———

  const platformIssuers = async (a: AdminAccess) =>
    a.kind === 'lti' ? [a.issuer] : (await db.selectFrom('learner_account').select('issuer').distinct().orderBy('issuer').execute()).map((r) => r.issuer);

  router.get('/records', handle(async (req: Request, res: Response) => {
    const a = access(res);
    const query = recordSearch.safeParse(req.query);
    if (!query.success) return adminError(req, res, 400, 'badSearch');
    const { issuer = '', userId = '' } = query.data;
    const show = async (status: number, message: string | null) => adminPage(req, res, status, 'records', { platforms: await platformIssuers(a), issuer, userId, message });
    if (!issuer && !userId) return show(200, null);
    if (!issuer || !userId) return show(400, t(req, res)('admin.records.searchIncomplete'));
    const account = a.kind === 'lti' && a.issuer !== issuer ? undefined
      : await db.selectFrom('learner_account').select('learner_id').where('issuer', '=', issuer).where('user_id', '=', userId).executeTakeFirst();
    if (!account) return show(404, t(req, res)('admin.records.noLearner'));
    res.redirect(303, adminView(a).href(`/records/${account.learner_id}`));
  }));

  // Every learner of the installation, so not for an LTI admin, who sees only their platform's.
  router.get('/records.csv', localOnly('recordsExportLocalOnly'), handle(async (req: Request, res: Response) => {
    await streamRecordsCsv(res, db, records, lang(req, res));
  }));

  /** The learner the address names, if this admin may see them; otherwise the error page is sent. */
  const learnerOr404 = async (req: Request, res: Response): Promise<string | undefined> => {
    const id = uuid.safeParse(req.params.learnerId);
    if (!id.success) return void adminError(req, res, 400, 'badLearnerId');
    const visible = await visibleLearners(access(res)).where('learner_id', '=', id.data).executeTakeFirst();
    if (!visible) return void adminError(req, res, 404, 'notFound');
    return id.data;
  };

  const recordPage = async (req: Request, res: Response, status: number, learnerId: string, message: { ok: boolean; text: string } | null, pasted = '') => {
    const record = await records.record(learnerId);
    const downloadUrl = (e: RecordEntry) => adminView(access(res)).href(`/records/${learnerId}/credentials/${e.source}/${e.rowId}.json`);
    adminPage(req, res, status, 'record', { learnerId, record: recordViewModel(record, lang(req, res), downloadUrl), message, pasted });
  };

  router.get('/records/:learnerId', handle(async (req: Request, res: Response) => {
    const learnerId = await learnerOr404(req, res);
    if (learnerId) await recordPage(req, res, 200, learnerId, null);
  }));

  router.get('/records/:learnerId/credentials/:source/:rowId.json', handle(async (req: Request, res: Response) => {
    const learnerId = await learnerOr404(req, res);
    if (!learnerId) return;
    const entry = await records.entry(learnerId, String(req.params.source), String(req.params.rowId));
    if (!entry) return adminError(req, res, 404, 'notFound');
    sendCredentialFile(res, entry);
  }));

  // The registrar vouches for a credential brought in on a learner's behalf: it need not name them, and the import is audited as theirs.
  router.post('/records/:learnerId/imports', registrarOnly, handle(async (req: Request, res: Response) => {
    const learnerId = await learnerOr404(req, res);
    if (!learnerId) return;
    const form = importForm.safeParse(req.body ?? {});
    if (!form.success) return recordPage(req, res, 400, learnerId, { ok: false, text: t(req, res)('record.importErrors.empty') });
    const outcome = await records.bringIn(learnerId, form.data.credential, { kind: 'registrar', actor: access(res).actor });
    await recordPage(req, res, outcome.ok ? 200 : 422, learnerId, importMessage(outcome, lang(req, res)), outcome.ok ? '' : form.data.credential);
  }));

  return router;
}
