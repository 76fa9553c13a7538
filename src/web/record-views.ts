import type { Response } from 'express';
import { convertCredits, CREDIT_SYSTEMS, type Credits } from '../criteria/credits.js';
import { accountsByLearner, type LearnerAccount } from '../credentials/learners.js';
import type { Db } from '../db/database.js';
import { refKey } from '../criteria/pathway.js';
import type { ImportOutcome, LearnerRecord, LearnerRecords, RecordEntry } from '../credentials/learner-records.js';
import { csvLine } from './csv.js';
import { formatNumber, translator, type Language } from './i18n.js';

/** The credit record as its pages (learner and registrar) show it; the same model for both. */
export function recordViewModel(record: LearnerRecord, lang: Language, downloadUrl: (entry: RecordEntry) => string) {
  const t = translator(lang);
  const credits = (c: Credits | undefined) => (c ? t(`record.credits.${c.system}`, { amount: formatNumber(c.amount, lang) }) : '—');
  return {
    accounts: record.accounts,
    entries: record.entries.map((e) => ({
      rowId: e.rowId, source: e.source, name: e.name, issuerName: e.issuerName, course: e.course ?? null, credits: credits(e.credits),
      issuedAt: e.issuedAt, state: e.state, statusChecked: e.statusChecked ?? null, download: downloadUrl(e),
    })),
    unclaimed: record.unclaimed,
    creditRows: CREDIT_SYSTEMS.map((system) => ({
      system, label: t(`record.system.${system}`), earned: credits({ amount: record.creditsBySystem[system], system }), total: credits({ amount: record.totals[system], system }),
    })),
    pathways: record.pathways.map(({ pathway, progress, awarded, names }) => ({
      id: pathway.id,
      name: pathway.definition.name,
      description: pathway.definition.description,
      awarded: awarded ? { rowId: awarded.rowId, issuedAt: awarded.issuedAt, download: downloadUrl(awarded) } : null,
      satisfied: progress.satisfied,
      rule: progress.needed === 0 ? null : t(`record.rule.${pathway.definition.rule}`, { count: progress.needed, total: progress.listed.length }),
      met: progress.met,
      needed: progress.needed,
      listed: progress.listed.map((l) => ({ name: names[refKey(l.ref)] ?? '', held: l.heldId !== undefined })),
      credits: progress.credits ? {
        earned: credits({ amount: progress.credits.earned, system: progress.credits.system }),
        required: credits({ amount: progress.credits.required, system: progress.credits.system }),
        ratio: Math.min(1, progress.credits.earned / progress.credits.required),
      } : null,
      missing: missingText(progress, names, lang),
    })),
  };
}

/** What is still missing for a pathway, in one sentence per gap. */
function missingText(progress: LearnerRecord['pathways'][number]['progress'], names: Record<string, string>, lang: Language): string[] {
  if (progress.satisfied) return [];
  const t = translator(lang);
  const gaps: string[] = [];
  if (progress.met < progress.needed) {
    const open = progress.listed.filter((l) => !l.heldId).map((l) => names[refKey(l.ref)] ?? '');
    gaps.push(t('record.missingCredentials', { count: progress.needed - progress.met, names: open.join(t('record.listSeparator')) }));
  }
  if (progress.credits && progress.credits.earned < progress.credits.required) {
    const short = Math.round((progress.credits.required - progress.credits.earned) * 100) / 100;
    gaps.push(t('record.missingCredits', { credits: t(`record.credits.${progress.credits.system}`, { amount: formatNumber(short, lang) }) }));
  }
  return gaps;
}

export const RECORD_CSV_COLUMNS = ['learner', 'platform', 'userId', 'source', 'name', 'issuer', 'course', 'credits', 'creditSystem', 'ectsEquivalent', 'issuedAt', 'validUntil', 'state'] as const;

/** One registrar CSV line per credential; the learner's accounts joined, as a person may have several. */
export function recordCsvLines(learnerId: string, accounts: readonly LearnerAccount[], entries: readonly RecordEntry[], lang: Language): string {
  const t = translator(lang);
  return entries.map((e) => csvLine([
    learnerId, accounts.map((a) => a.issuer).join(' '), accounts.map((a) => a.userId).join(' '),
    t(`record.source.${e.source}`), e.name, e.issuerName, e.course ?? '', e.credits ? String(e.credits.amount) : '', e.credits ? e.credits.system : '',
    e.credits ? String(convertCredits(e.credits, 'ects')) : '', e.issuedAt.toISOString(), e.validUntil?.toISOString() ?? '', t(`record.state.${e.state}`),
  ])).join('');
}

export function recordCsvHeader(lang: Language): string {
  const t = translator(lang);
  return `\uFEFF${csvLine(RECORD_CSV_COLUMNS.map((c) => t(`record.csv.${c}`)))}`;
}

/** A credential of a record as a download; attachment() sets the type from the name, so ours is set after it. */
export function sendCredentialFile(res: Response, entry: RecordEntry): void {
  res.attachment(`credential-${entry.rowId}.json`).type('application/vc+ld+json').send(JSON.stringify(entry.document, null, 2));
}

/** The outcome of an import or link, as a status line. */
export function importMessage(outcome: ImportOutcome, lang: Language): { ok: boolean; text: string } {
  const t = translator(lang);
  if (outcome.ok) return { ok: true, text: outcome.kind === 'imported' ? t('record.imported', { name: outcome.name, issuer: outcome.issuer }) : t('record.linked', { platform: outcome.platform }) };
  return { ok: false, text: t(`record.importErrors.${outcome.reason}`, { detail: outcome.detail ?? '' }) };
}

/** Streams every learner's record as CSV, a page of learners at a time. */
export async function streamRecordsCsv(res: Response, db: Db, records: LearnerRecords, lang: Language): Promise<void> {
  res.status(200).type('text/csv; charset=utf-8').attachment('credit-records.csv');
  res.write(recordCsvHeader(lang));
  const PAGE = 200;
  for (let after: string | undefined; ;) {
    const ids = await records.learnerPage(after, PAGE);
    const [entries, accounts] = await Promise.all([records.entriesOf(ids), accountsByLearner(db, ids)]);
    const chunk = ids.map((id) => recordCsvLines(id, accounts.get(id) ?? [], entries.get(id) ?? [], lang)).join('');
    if (chunk && !res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    if (ids.length < PAGE) break;
    after = ids[ids.length - 1];
  }
  res.end();
}
