import { LANGUAGES, translator, type Language } from '../web/i18n.js';
import type { Evaluation, NodeProgress } from './evaluate.js';
import type { Reason } from './reason.js';

/**
 * Reasons as text, in English and Japanese, from config/locales (`criteria.*`). Kept apart from
 * evaluation, which stays pure: this module loads the locale files through src/web/i18n.ts.
 */

export interface ExplainedEvaluation extends Evaluation {
  /** Every node's reason, root first, depth-first, in each language. */
  reasons: Record<Language, string[]>;
}

const ISO_OFFSET = /(Z|[+-]\d{2}:\d{2})$/i;

// Shifted instants are formatted as UTC wall-clock time; a formatter is costly to create.
const DATE_FORMATS: Record<Language, Intl.DateTimeFormat> = {
  en: new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }),
  ja: new Intl.DateTimeFormat('ja-JP', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }),
};

/**
 * A date-time in the offset it was written with, so a deadline set as 23:59 in Japan reads
 * 23:59 UTC+09:00 rather than 14:59 UTC.
 */
function formatInstant(iso: string, lang: Language): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const offset = ISO_OFFSET.exec(iso)?.[1]?.toUpperCase();
  const offsetMinutes = offset && offset !== 'Z' ? (offset.startsWith('-') ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) : 0;
  const wallClock = new Date(ms + offsetMinutes * 60_000);
  if (Number.isNaN(wallClock.getTime())) return iso;
  return `${DATE_FORMATS[lang].format(wallClock)} UTC${offsetMinutes ? offset : ''}`;
}

export function describeReason(reason: Reason, lang: Language): string {
  const t = translator(lang);
  const params: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(reason.params)) {
    params[name] = name.endsWith('At') && typeof value === 'string' ? formatInstant(value, lang) : value;
  }
  const { selectorKind, selectorValue, score, maximum } = reason.params;
  if (selectorKind !== undefined) params.selector = t(`criteria.selector.${selectorKind}`, { value: selectorValue });
  if (score !== undefined && maximum !== undefined) {
    params.scoreText = t(Number(maximum) > 0 ? 'criteria.score.ofMaximum' : 'criteria.score.noMaximum', { score, maximum });
  }
  return t(reason.key, params);
}

/** A node's reason as text, after its label when the author gave one. */
function nodeText(node: NodeProgress, lang: Language): string {
  const text = describeReason(node.reason, lang);
  const label = node.label?.[lang] ?? Object.values(node.label ?? {}).find((l) => l !== undefined);
  return label === undefined ? text : translator(lang)('criteria.labelled', { label, reason: text });
}

function lines(root: NodeProgress, lang: Language): string[] {
  const out: string[] = [];
  const visit = (node: NodeProgress): void => {
    out.push(nodeText(node, lang));
    node.children?.forEach(visit);
  };
  visit(root);
  return out;
}

/** One criterion as pages show it: its reason, its progress, and its own criteria. */
export interface DescribedCriterion {
  text: string;
  progress: number;
  satisfied: boolean;
  children: DescribedCriterion[];
}

/** The explanation tree with each node's reason as text in one language. */
export function describeTree(node: NodeProgress, lang: Language): DescribedCriterion {
  return { text: nodeText(node, lang), progress: node.progress, satisfied: node.satisfied, children: (node.children ?? []).map((c) => describeTree(c, lang)) };
}

/** The evaluation with its reasons rendered in every language, for callers that show or store text. */
export function explain(evaluation: Evaluation): ExplainedEvaluation {
  const reasons = Object.fromEntries(LANGUAGES.map((lang) => [lang, lines(evaluation.progress, lang)])) as Record<Language, string[]>;
  return { ...evaluation, reasons };
}
