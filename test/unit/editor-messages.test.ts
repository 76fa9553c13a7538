import { z } from 'zod';
import { zodErrors } from '../../src/criteria/index.js';
import { localizeMessage } from '../../src/web/credential-form.js';
import { translator } from '../../src/web/i18n.js';

/**
 * The editor shows the service's messages in the user's language by recognising zod's English
 * wording. These are the messages today's zod produces for the rules our schemas use; if an
 * upgrade rewords one, it falls back to the general "not valid" text and this test says which.
 */
const cases: Array<[string, z.ZodType, unknown]> = [
  ['required (empty)', z.string().min(1), ''],
  ['required (missing)', z.object({ name: z.string() }), {}],
  ['too long', z.string().max(3), 'abcd'],
  ['at least one', z.array(z.string()).min(1), []],
  ['too many', z.array(z.string()).max(1), ['a', 'b']],
  ['not whole', z.number().int(), 1.5],
  ['not a number', z.number(), 'x'],
  ['minimum', z.number().min(0), -1],
  ['above', z.number().gt(0), 0],
  ['maximum', z.number().max(10), 11],
  ['multiple of', z.number().multipleOf(0.5), 0.3],
  ['choice', z.enum(['a', 'b']), 'c'],
  ['url', z.url(), 'not a url'],
  ['unknown field', z.object({}).strict(), { extra: 1 }],
];

describe('the editor recognises every validation message it may be shown', () => {
  const fallback = (lang: 'en' | 'ja', detail: string) => translator(lang)('editor.errors.invalid', { detail });

  test.each(cases)('%s', (_name, schema, value) => {
    const parsed = schema.safeParse(value);
    expect(parsed.success).toBe(false);
    for (const { message } of zodErrors(parsed.error!)) {
      for (const lang of ['en', 'ja'] as const) {
        expect({ message, shown: localizeMessage(message, translator(lang)) }).not.toEqual({ message, shown: fallback(lang, message) });
      }
    }
  });
});
