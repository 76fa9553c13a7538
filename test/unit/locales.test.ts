import { LANGUAGES, loadLocale } from '../../src/web/i18n.js';

/** Every leaf key with its value, dotted. */
function leaves(tree: Record<string, unknown>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(tree)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of leaves(value as Record<string, unknown>, `${prefix}${key}.`)) out.set(k, v);
    } else out.set(`${prefix}${key}`, value);
  }
  return out;
}

/** i18next placeholders such as {{name}}, sorted. */
const placeholders = (text: unknown) => [...String(text).matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]).sort();

/** Plural forms differ by language (English: _one and _other, Japanese: _other only): compare the base key. */
const PLURAL = /_(zero|one|two|few|many|other)$/;
function byBaseKey(strings: Map<string, unknown>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, text] of strings) if (!PLURAL.test(key) || key.endsWith('_other')) out.set(key.replace(PLURAL, ''), text);
  return out;
}

describe('the Japanese and English strings', () => {
  const [en, ja] = LANGUAGES.map((l) => byBaseKey(leaves(loadLocale(l)))) as [Map<string, unknown>, Map<string, unknown>];

  test('have the same keys', () => {
    expect([...ja.keys()].filter((k) => !en.has(k))).toEqual([]);
    expect([...en.keys()].filter((k) => !ja.has(k))).toEqual([]);
  });

  test('use the same placeholders and are never empty', () => {
    for (const [key, text] of en) {
      expect({ key, ja: placeholders(ja.get(key)) }).toEqual({ key, ja: placeholders(text) });
      expect({ key, empty: String(text).trim() === '' || String(ja.get(key)).trim() === '' }).toEqual({ key, empty: false });
    }
  });
});
