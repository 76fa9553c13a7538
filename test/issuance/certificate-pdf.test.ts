import QRCode from 'qrcode';
import { inflateSync } from 'node:zlib';
import { certificatePdf, type CertificateContent } from '../../src/issuance/certificate-pdf.js';

const content: CertificateContent = {
  lang: 'ja',
  labels: { heading: '修了証', awardedTo: '授与対象', credits: '単位', issuedBy: '発行者', issuedOn: '発行日', verifyAt: '検証はこちら', credentialId: '証明 ID' },
  learnerName: '山田 花子',
  achievementName: 'データサイエンス入門',
  achievementDescription: 'Python でデータを読み、可視化し、簡単なモデルを作る。',
  credits: '1 ECTS 単位',
  issuerName: '東京未来大学',
  issuedOn: '2026年12月1日',
  credentialId: 'urn:uuid:8f3c1d0e-5b1a-4c55-9d5e-2a6b7c8d9e0f',
  verificationUrl: 'https://badges.example.ac.jp/verify?credential=8f3c1d0e-5b1a-4c55-9d5e-2a6b7c8d9e0f',
};

// A reader for the PDFs pdfkit writes (every object `N 0 obj`, a stream's /Length given directly), enough
// to follow references from the page to its content, fonts and CMaps as a PDF viewer would.

interface PdfObject { dictionary: string; stream?: Buffer }

function pdfObjects(pdf: Buffer): Map<number, PdfObject> {
  const text = pdf.toString('latin1'); // one character per byte, so offsets into the text are offsets into the buffer
  const objects = new Map<number, PdfObject>();
  const header = /(\d+) 0 obj\n/g;
  for (let match = header.exec(text); match; match = header.exec(text)) {
    const start = header.lastIndex;
    const end = text.indexOf('\nendobj', start);
    const streamKeyword = text.indexOf('\nstream\n', start);
    if (streamKeyword === -1 || streamKeyword > end) {
      objects.set(Number(match[1]), { dictionary: text.slice(start, end) });
      continue;
    }
    const dictionary = text.slice(start, streamKeyword);
    const length = Number(/\/Length (\d+)/.exec(dictionary)?.[1]);
    const dataStart = streamKeyword + '\nstream\n'.length;
    const raw = pdf.subarray(dataStart, dataStart + length);
    objects.set(Number(match[1]), { dictionary, stream: dictionary.includes('/FlateDecode') ? inflateSync(raw) : raw });
    header.lastIndex = dataStart + length; // a font program's bytes may look like an object header
  }
  return objects;
}

function referenced(objects: Map<number, PdfObject>, from: PdfObject, key: string): PdfObject {
  const number = new RegExp(`/${key} \\[?(\\d+) 0 R`).exec(from.dictionary)?.[1];
  const object = objects.get(Number(number));
  if (!object) throw new Error(`no /${key} in ${from.dictionary}`);
  return object;
}

/** Glyph id to text, from a ToUnicode CMap in the form pdfkit writes: bfranges with an array of targets. */
function toUnicode(cmap: string): Map<number, string> {
  const glyphs = new Map<number, string>();
  for (const [, first, targets] of cmap.matchAll(/<([0-9a-f]{4})> <[0-9a-f]{4}> \[([^\]]*)\]/g)) {
    [...targets!.matchAll(/<([0-9a-f]+)>/g)].forEach(([, utf16be], index) => {
      glyphs.set(parseInt(first!, 16) + index, Buffer.from(utf16be!, 'hex').swap16().toString('utf16le'));
    });
  }
  return glyphs;
}

/** What the one page draws: its text lines (as a viewer's copy and paste would give them) and its rectangles. */
function page(pdf: Buffer): { pages: number; lines: string[]; rectangles: Array<[x: number, y: number, width: number, height: number]> } {
  const objects = pdfObjects(pdf);
  const pages = [...objects.values()].filter((object) => /\/Type \/Page\b/.test(object.dictionary));
  const first = pages[0]!;
  const fonts = referenced(objects, first, 'Resources').dictionary;
  const contentStream = referenced(objects, first, 'Contents').stream!.toString('latin1');
  const lines: string[] = [];
  let glyphs = new Map<number, string>();
  for (const [, fontName, shown] of contentStream.matchAll(/\/(F\d+) [\d.]+ Tf|\[([^\]]*)\] TJ/g)) {
    if (fontName) {
      const font = referenced(objects, { dictionary: fonts }, fontName);
      glyphs = toUnicode(referenced(objects, font, 'ToUnicode').stream!.toString('latin1'));
      continue;
    }
    const ids = [...shown!.matchAll(/<([0-9a-f]+)>/g)].flatMap(([, hex]) => hex!.match(/.{4}/g)!.map((id) => parseInt(id, 16)));
    lines.push(ids.map((id) => glyphs.get(id) ?? '\uFFFD').join(''));
  }
  const rectangles = [...contentStream.matchAll(/^(\S+) (\S+) (\S+) (\S+) re$/gm)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] as [number, number, number, number]);
  return { pages: pages.length, lines, rectangles };
}

describe('the PDF certificate', () => {
  test('is one PDF page whose text, in an embedded subset of the Japanese font, maps back to its characters', async () => {
    const pdf = await certificatePdf(content);
    const raw = pdf.toString('latin1');
    expect(raw.startsWith('%PDF-')).toBe(true);
    expect(raw.trimEnd().endsWith('%%EOF')).toBe(true);
    expect(raw.match(/\/Type \/Page\b/g)).toHaveLength(1);

    // Follow each font from the page, as a viewer does, to its embedded program and its ToUnicode CMap.
    const objects = pdfObjects(pdf);
    const fonts = [...objects.values()].filter((object) => object.dictionary.includes('/Subtype /Type0'));
    expect(fonts.map((font) => /\/BaseFont \/[A-Z]{6}\+(\S+)/.exec(font.dictionary)?.[1]).sort()).toEqual(['NotoSansJP-Bold', 'NotoSansJP-Regular']);
    const mapped: string[] = [];
    for (const font of fonts) {
      const descriptor = referenced(objects, referenced(objects, font, 'DescendantFonts'), 'FontDescriptor');
      // A subset: a few kB of glyphs, not the 5 MB font file.
      expect(referenced(objects, descriptor, 'FontFile2').stream!.length).toBeLessThan(100_000);
      mapped.push(...toUnicode(referenced(objects, font, 'ToUnicode').stream!.toString('latin1')).values());
    }
    for (const character of '修了証山田花子東京') expect(mapped).toContain(character);

    const { lines } = page(pdf);
    for (const text of ['修了証', '授与対象', '山田 花子', 'データサイエンス入門', content.achievementDescription, '1 ECTS 単位', '東京未来大学', '2026年12月1日', '検証はこちら', `証明 ID: ${content.credentialId}`]) {
      expect(lines).toContain(text);
    }
    // The URL may wrap, but is printed whole.
    const captionStart = lines.indexOf('検証はこちら');
    expect(lines.slice(captionStart + 1, captionStart + 3).join('')).toBe(content.verificationUrl);
  });

  test('carries the title, author and language as metadata', async () => {
    const pdf = await certificatePdf(content);
    const objects = pdfObjects(pdf);
    const raw = pdf.toString('latin1');
    const trailer = { dictionary: raw.slice(raw.lastIndexOf('trailer')) };
    expect(referenced(objects, trailer, 'Root').dictionary).toMatch(/\/Lang \(ja\)/);
    const info = referenced(objects, trailer, 'Info');
    // pdfkit writes text as UTF-16BE after a byte order mark; these strings need no escapes.
    const pdfText = (text: string) => `(\u00fe\u00ff${Buffer.from(text, 'utf16le').swap16().toString('latin1')})`;
    expect(referenced(objects, info, 'Title').dictionary).toBe(pdfText(content.achievementName));
    expect(referenced(objects, info, 'Author').dictionary).toBe(pdfText(content.issuerName));
  });

  test('draws the QR code of the verification URL module by module', async () => {
    const { rectangles } = page(await certificatePdf(content));
    const border = rectangles.filter(([, , width]) => width > 500);
    expect(border).toHaveLength(2);
    const squares = rectangles.filter(([, , width]) => width < 10);
    expect(squares.length + border.length).toBe(rectangles.length);

    // Rebuild the module grid from where the squares are, and compare it with the code the URL makes.
    const { modules } = QRCode.create(content.verificationUrl, { errorCorrectionLevel: 'M' });
    const left = Math.min(...squares.map(([x]) => x));
    const top = Math.min(...squares.map(([, y]) => y));
    const size = squares[0]![2];
    const drawn = new Set(squares.map(([x, y]) => `${Math.round((y - top) / size)},${Math.round((x - left) / size)}`));
    const expected = new Set<string>();
    for (let row = 0; row < modules.size; row++) {
      for (let column = 0; column < modules.size; column++) if (modules.get(row, column)) expected.add(`${row},${column}`);
    }
    expect(drawn).toEqual(expected);
    expect(squares).toHaveLength(expected.size);
  });

  test('a very long description, name and title still fit on one page, cut with an ellipsis', async () => {
    const pdf = await certificatePdf({ ...content, achievementDescription: 'とても長い説明。'.repeat(500), learnerName: '寿限無'.repeat(40), achievementName: 'A'.repeat(400) });
    const { pages, lines } = page(pdf);
    expect(pages).toBe(1);
    const descriptionLines = lines.filter((line) => line.includes('説明'));
    expect(descriptionLines.length).toBeGreaterThan(3);
    expect(descriptionLines.at(-1)).toMatch(/…$/);
    expect(lines.find((line) => line.startsWith('寿限無'))).toMatch(/…$/);
    // Everything after the description is still there, in place.
    expect(lines).toContain('東京未来大学');
    expect(lines).toContain(`証明 ID: ${content.credentialId}`);
  });

  test('leaves out the credits line when there are none', async () => {
    const { lines } = page(await certificatePdf({ ...content, credits: undefined }));
    expect(lines).not.toContain('単位');
    expect(lines).not.toContain('1 ECTS 単位');
    expect(lines).toContain('発行者');
  });

  test('takes well under a second once warm (logged, not asserted)', async () => {
    await certificatePdf(content);
    const started = performance.now();
    await certificatePdf(content);
    console.log(`one certificate in ${(performance.now() - started).toFixed(0)} ms`);
  });
});
