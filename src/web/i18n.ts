import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import i18next, { type TFunction } from 'i18next';

export const LANGUAGES = ['en', 'ja'] as const;
export type Language = (typeof LANGUAGES)[number];

const LOCALES_DIR = path.resolve('config/locales');

/**
 * A language's strings: config/locales/<lang>.json plus one file per screen area under
 * config/locales/<lang>/. Areas own disjoint top-level keys; a key defined twice is a start-up error.
 */
export function loadLocale(lang: Language): Record<string, unknown> {
  const merged = JSON.parse(readFileSync(path.join(LOCALES_DIR, `${lang}.json`), 'utf8')) as Record<string, unknown>;
  const areaDir = path.join(LOCALES_DIR, lang);
  const areas = existsSync(areaDir) ? readdirSync(areaDir).filter((f) => f.endsWith('.json')).sort() : [];
  for (const file of areas) {
    const area = JSON.parse(readFileSync(path.join(areaDir, file), 'utf8')) as Record<string, unknown>;
    for (const [key, value] of Object.entries(area)) {
      if (key in merged) throw new Error(`config/locales/${lang}/${file} redefines the top-level key "${key}"`);
      merged[key] = value;
    }
  }
  return merged;
}

const i18n = i18next.createInstance();
await i18n.init({
  resources: Object.fromEntries(LANGUAGES.map((l) => [l, { translation: loadLocale(l) }])),
  fallbackLng: 'en',
  supportedLngs: [...LANGUAGES],
  interpolation: { escapeValue: false }, // ejs escapes on output
  returnNull: false,
});

export function translator(lang: Language): TFunction {
  return i18n.getFixedT(lang);
}

function fromTag(tag: string | undefined): Language | undefined {
  const base = tag?.trim().toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.find((l) => l === base);
}

/** The LTI launch's locale wins, then the browser's Accept-Language (by quality), then English. */
export function pickLanguage(launchLocale: string | undefined, acceptLanguage: string | undefined): Language {
  const fromLaunch = fromTag(launchLocale);
  if (fromLaunch) return fromLaunch;
  const ranked = (acceptLanguage ?? '')
    .split(',')
    .map((part) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag, q: q ? Number(q.slice(2)) || 0 : 1 };
    })
    .sort((a, b) => b.q - a.q);
  for (const { tag } of ranked) {
    const lang = fromTag(tag);
    if (lang) return lang;
  }
  return 'en';
}

export function formatDateTime(date: Date, lang: Language): string {
  return new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(date) + ' UTC';
}

const NUMBER_FORMATS: Record<Language, Intl.NumberFormat> = { en: new Intl.NumberFormat('en-GB'), ja: new Intl.NumberFormat('ja-JP') };
const PERCENT_FORMATS: Record<Language, Intl.NumberFormat> = {
  en: new Intl.NumberFormat('en-GB', { style: 'percent', maximumFractionDigits: 0 }),
  ja: new Intl.NumberFormat('ja-JP', { style: 'percent', maximumFractionDigits: 0 }),
};

export function formatNumber(n: number, lang: Language): string {
  return NUMBER_FORMATS[lang].format(n);
}

/** A ratio 0..1 as a whole percentage, rounded down so 99.6 % never reads as done. */
export function formatPercent(ratio: number, lang: Language): string {
  return PERCENT_FORMATS[lang].format(Math.floor(ratio * 100) / 100);
}
