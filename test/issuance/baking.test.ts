import { randomBytes } from 'node:crypto';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { badgePng, badgeSvg, bakePng, bakeSvg, BakingError, extractBakedCredential } from '../../src/issuance/baking.js';

const credential = {
  '@context': ['https://www.w3.org/ns/credentials/v2', 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json'],
  id: 'urn:uuid:8f3c1d0e-5b1a-4c55-9d5e-2a6b7c8d9e0f',
  type: ['VerifiableCredential', 'OpenBadgeCredential'],
  name: 'データサイエンス入門 修了証',
  // "]]>" would end a CDATA section early; "<" and "&" would be markup outside one.
  description: 'Ends a CDATA section: ]]> and <tags> & ampersands, 𠮷野家',
  credentialSubject: { type: ['AchievementSubject'], achievement: { name: 'データサイエンス入門', criteria: { narrative: '小テストの平均 60% 以上' } } },
};
const credentialJson = JSON.stringify(credential);

interface Chunk {
  type: string;
  data: Buffer;
  crcMatches: boolean;
}

/** An independent PNG chunk reader (CRCs by node:zlib's own crc32), to check what baking.ts writes. */
function pngChunks(png: Buffer): Chunk[] {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const chunks: Chunk[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const typeAndData = png.subarray(offset + 4, offset + 8 + length);
    chunks.push({ type: typeAndData.subarray(0, 4).toString('latin1'), data: typeAndData.subarray(4), crcMatches: crc32(typeAndData) === png.readUInt32BE(offset + 8 + length) });
    offset += 12 + length;
  }
  return chunks;
}

function expectValidPng(png: Buffer, size: number): Chunk[] {
  const chunks = pngChunks(png);
  expect(chunks.map((c) => c.crcMatches)).toEqual(chunks.map(() => true));
  expect(chunks[0]?.type).toBe('IHDR');
  expect(chunks.at(-1)?.type).toBe('IEND');
  expect(chunks.at(-1)?.data.length).toBe(0);
  const header = chunks[0]!.data;
  expect([header.readUInt32BE(0), header.readUInt32BE(4), ...header.subarray(8)]).toEqual([size, size, 8, 6, 0, 0, 0]);
  const pixels = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  expect(pixels.length).toBe(size * size * 4 + size);
  return chunks;
}

function chunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/** An iTXt chunk as another baker might write it: any compression flag and method, a language tag. */
function credentialChunk(text: Buffer, compressionFlag = 0, compressionMethod = 0): Buffer {
  return chunk('iTXt', Buffer.concat([Buffer.from('openbadgecredential\0', 'latin1'), Buffer.from([compressionFlag, compressionMethod]), Buffer.from('ja\0\0'), text]));
}

/** The PNG with extra chunks put just before its IEND. */
function withChunksBeforeIend(png: Buffer, ...chunks: Buffer[]): Buffer {
  return Buffer.concat([png.subarray(0, png.length - 12), ...chunks, png.subarray(png.length - 12)]);
}

function bakingError(run: () => unknown): BakingError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(BakingError);
    return err as BakingError;
  }
  throw new Error('expected a BakingError, but nothing was thrown');
}

/** Hostile input must be refused, and quickly: the limit is generous for slow CI machines, far below what a quadratic scan of 10 MB would take. */
function refusedQuickly(run: () => unknown): BakingError {
  const started = performance.now();
  const error = bakingError(run);
  expect(performance.now() - started).toBeLessThan(3000);
  return error;
}

function tspans(svg: string): string[] {
  return Array.from(svg.matchAll(/<tspan[^>]*>([^<]*)<\/tspan>/g), (m) => m[1] ?? '');
}

const TEN_MB = 10 * 1024 * 1024;
const smallPng = badgePng({ size: 32 });

describe('badgeSvg', () => {
  test('draws a self-contained 400×400 medallion with the title in Japanese fonts', () => {
    const svg = badgeSvg({ title: 'データサイエンス入門 修了証', subtitle: '東京未来大学', color: '#c01c28' });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="400" height="400" viewBox="0 0 400 400"/);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg).toContain('font-family="Noto Sans CJK JP, IPAexGothic, sans-serif"');
    expect(svg).toContain('fill="#c01c28"');
    expect(svg).not.toMatch(/href|<script|url\(|<image|<foreignObject/i);
    // At the largest size "データ" would be left alone on the first line; a smaller one keeps the word whole.
    expect(tspans(svg)).toEqual(['データサイエンス', '入門 修了証', '東京未来大学']);
    expect(svg).toContain('font-size="26" font-weight="bold"');
  });

  test('wraps a long title over at most three lines, without splitting words that fit, and ends it with an ellipsis', () => {
    const title = 'Advanced Topics in Statistical Learning for the Humanities and Social Sciences, with Applications';
    const lines = tspans(badgeSvg({ title }));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/…$/);
    expect(`${lines.join(' ').slice(0, -1)}`).toBe(title.slice(0, lines.join(' ').length - 1));
    expect(tspans(badgeSvg({ title: 'Python' }))).toEqual(['Python']);
  });

  test('keeps brackets and punctuation with their words (kinsoku)', () => {
    expect(tspans(badgeSvg({ title: '統計学（基礎）、データ分析（応用）。' }))).toEqual(['統計学（基礎）、', 'データ分析（応用）。']);
  });

  test('escapes markup and drops characters XML forbids', () => {
    const svg = badgeSvg({ title: 'R&D <script>alert(1)</script> "x" \u0007' });
    expect(svg).not.toContain('<script');
    expect(svg).not.toContain('\u0007');
    expect(svg).toContain('R&amp;D');
    expect(svg).toContain('&lt;script&gt;');
  });

  test('accepts only hex colours, so that nothing can break out of an attribute', () => {
    expect(badgeSvg({ title: 'x', color: '#fc3' })).toContain('fill="#ffcc33"');
    expect(() => badgeSvg({ title: 'x', color: 'red" onload="alert(1)' })).toThrow(RangeError);
  });
});

describe('badgePng', () => {
  test('is a valid RGBA PNG: chunk CRCs, IHDR first, IEND last, one filter byte and four bytes per pixel', () => {
    const png = badgePng({ size: 64, color: '#1a5fb4' });
    const chunks = expectValidPng(png, 64);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(pngChunks(badgePng({})).length).toBe(3);
  });

  test('draws an opaque, anti-aliased medallion on a transparent background', () => {
    const size = 64;
    const pixels = inflateSync(pngChunks(badgePng({ size, color: '#1a5fb4' }))[1]!.data);
    const pixel = (x: number, y: number) => [...pixels.subarray(y * (size * 4 + 1) + 1 + x * 4, y * (size * 4 + 1) + 1 + x * 4 + 4)];
    const rowFilters = Array.from({ length: size }, (_, y) => pixels[y * (size * 4 + 1)]);
    expect(new Set(rowFilters)).toEqual(new Set([0]));
    expect(pixel(0, 0)).toEqual([0, 0, 0, 0]);
    // The outermost disc, just inside the edge, is the colour itself.
    expect(pixel(32, 3)).toEqual([0x1a, 0x5f, 0xb4, 255]);
    expect(pixel(32, 32)[3]).toBe(255);
    const edgeAlphas = Array.from({ length: size }, (_, x) => pixel(x, 32)[3] ?? 0);
    expect(edgeAlphas.some((alpha) => alpha > 0 && alpha < 255)).toBe(true);
  });

  test('refuses sizes that are not whole pixels or would take unbounded memory', () => {
    expect(() => badgePng({ size: 10_000 })).toThrow(RangeError);
    expect(() => badgePng({ size: 12.5 })).toThrow(RangeError);
  });
});

describe('SVG baking', () => {
  test('round trip: the extracted text is exactly the credential JSON, Japanese and "]]>" included', () => {
    const baked = bakeSvg(badgeSvg({ title: credential.name }), credential);
    const extracted = extractBakedCredential(Buffer.from(baked, 'utf8'));
    expect(extracted).toEqual({ format: 'svg', credentialText: credentialJson });
    expect(JSON.parse(extracted.credentialText)).toEqual(credential);
  });

  test('declares the namespace on the root and puts the element, without verify, right after its opening tag', () => {
    const svg = '<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by hand --><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>';
    const baked = bakeSvg(svg, credential);
    expect(baked.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by hand --><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential><![CDATA[')).toBe(true);
    expect(baked.endsWith(']]></openbadges:credential><rect width="1" height="1"/></svg>')).toBe(true);
    expect(baked).not.toContain('verify=');
    // The one "]]>" in the JSON is split across two CDATA sections.
    expect(baked).toContain('section: ]]]]><![CDATA[> and');
  });

  test('keeps an existing declaration of the same namespace and opens a self-closing root', () => {
    const baked = bakeSvg("<svg xmlns='http://www.w3.org/2000/svg' xmlns:openbadges='https://purl.imsglobal.org/ob/v3p0' />", { id: 'a' });
    expect(baked).toBe(`<svg xmlns='http://www.w3.org/2000/svg' xmlns:openbadges='https://purl.imsglobal.org/ob/v3p0'><openbadges:credential><![CDATA[{"id":"a"}]]></openbadges:credential></svg>`);
    expect(extractBakedCredential(Buffer.from(baked)).credentialText).toBe('{"id":"a"}');
  });

  test('refuses to bake twice, or into a document whose openbadges prefix means something else', () => {
    const baked = bakeSvg(badgeSvg({ title: 'x' }), credential);
    expect(bakingError(() => bakeSvg(baked, credential)).message).toMatch(/already holds a baked credential/);
    expect(bakingError(() => bakeSvg('<svg xmlns:openbadges="http://openbadges.org"></svg>', credential)).message).toMatch(/openbadges prefix/);
    expect(bakingError(() => bakeSvg('<html><svg></svg></html>', credential)).message).toMatch(/<svg> root element/);
  });

  test('is not fooled by markup in comments or attribute values', () => {
    const svg = '<svg data-note="a > b" xmlns="http://www.w3.org/2000/svg"><!-- <openbadges:credential>not this</openbadges:credential> --><g/></svg>';
    const baked = bakeSvg(svg, { id: 'b' });
    expect(baked.startsWith('<svg data-note="a > b" xmlns="http://www.w3.org/2000/svg" xmlns:openbadges=')).toBe(true);
    expect(extractBakedCredential(Buffer.from(baked)).credentialText).toBe('{"id":"b"}');
  });

  test('reads an XML-escaped text body, and a VC-JWT from the verify attribute', () => {
    const escaped = '<svg xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential>\n  {&quot;name&quot;:&quot;&#x65E5;&#26412; &lt;&amp;&gt;&quot;}\n</openbadges:credential></svg>';
    expect(JSON.parse(extractBakedCredential(Buffer.from(escaped)).credentialText)).toEqual({ name: '日本 <&>' });
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJ2YyI6e319.c2lnbmF0dXJl';
    const withJwt = `<svg xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><openbadges:credential verify="${jwt}"/></svg>`;
    expect(extractBakedCredential(Buffer.from(withJwt))).toEqual({ format: 'svg', credentialText: jwt });
  });

  test.each([
    ['no credential', '<svg><g/></svg>', /no baked Open Badges 3\.0 credential/],
    ['two credentials', '<svg><openbadges:credential>{}</openbadges:credential><openbadges:credential>{}</openbadges:credential></svg>', /more than one/],
    ['an empty credential', '<svg><openbadges:credential></openbadges:credential></svg>', /is empty/],
    ['markup in the credential', '<svg><openbadges:credential><b>{}</b></openbadges:credential></svg>', /holds markup \(<b>\)/],
    ['an unclosed credential', '<svg><openbadges:credential><![CDATA[{}]]></svg>', /holds markup \(<\/svg>\)/],
    ['an unclosed CDATA section', '<svg><openbadges:credential><![CDATA[{}</openbadges:credential></svg>', /CDATA section is never closed/],
    ['an unknown entity', '<svg><openbadges:credential>&nbsp;{}</openbadges:credential></svg>', /unknown or invalid XML reference "&nbsp;"/],
    ['text that is not SVG', '{"not":"an image"}', /neither a PNG image nor an SVG image/],
  ])('refuses %s with a BakingError that says what is wrong', (_, svg, message) => {
    expect(bakingError(() => extractBakedCredential(Buffer.from(svg))).message).toMatch(message);
  });
});

describe('PNG baking', () => {
  test('round trip: the extracted text is exactly the credential JSON, and the PNG stays valid', () => {
    const png = badgePng({ size: 48 });
    const baked = bakePng(png, credential);
    expect(extractBakedCredential(baked)).toEqual({ format: 'png', credentialText: credentialJson });
    const chunks = expectValidPng(baked, 48);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'iTXt', 'IEND']);
    // keyword, NUL, compression flag 0, method 0, empty language tag, NUL, empty translated keyword, NUL, UTF-8 text
    expect(chunks[2]!.data).toEqual(Buffer.concat([Buffer.from('openbadgecredential\0\0\0\0\0', 'latin1'), Buffer.from(credentialJson, 'utf8')]));
    // Everything but the new chunk is byte for byte the original.
    expect(Buffer.concat([baked.subarray(0, png.length - 12), baked.subarray(-12)])).toEqual(png);
  });

  test('reads a compressed iTXt chunk that another baker wrote', () => {
    const png = withChunksBeforeIend(smallPng, credentialChunk(deflateSync(Buffer.from(credentialJson, 'utf8')), 1));
    expect(extractBakedCredential(png).credentialText).toBe(credentialJson);
  });

  test('ignores other text chunks', () => {
    const png = withChunksBeforeIend(smallPng, chunk('tEXt', Buffer.from('Software\0hand-drawn')), chunk('iTXt', Buffer.from('openbadges\0\0\0\0\0{"v2":true}')));
    expect(bakingError(() => extractBakedCredential(png)).message).toMatch(/no iTXt chunk with keyword openbadgecredential/);
    expect(extractBakedCredential(bakePng(png, { id: 'c' })).credentialText).toBe('{"id":"c"}');
  });

  test('refuses to bake twice, or into something that is not a PNG', () => {
    const baked = bakePng(smallPng, credential);
    expect(bakingError(() => bakePng(baked, credential)).message).toMatch(/already holds a baked credential/);
    expect(bakingError(() => bakePng(Buffer.from(badgeSvg({ title: 'x' })), credential)).message).toMatch(/PNG signature/);
  });

  test.each([
    ['two credential chunks', () => withChunksBeforeIend(smallPng, credentialChunk(Buffer.from('{}')), credentialChunk(Buffer.from('{}'))), /more than one openbadgecredential chunk/],
    ['a bad CRC', () => { const png = Buffer.from(bakePng(smallPng, credential)); png.writeUInt8(png.readUInt8(png.length - 20) ^ 1, png.length - 20); return png; }, /CRC of chunk "iTXt"/],
    ['a chunk length pointing past the end', () => { const png = Buffer.from(smallPng); png.writeUInt32BE(0x7ffffff0, 8); return png; }, /chunk "IHDR" at byte 8 declares 2147483632 bytes/],
    ['a truncated file', () => bakePng(smallPng, credential).subarray(0, smallPng.length + 20), /truncated/],
    ['no IEND', () => smallPng.subarray(0, smallPng.length - 12), /ends at byte \d+, before its closing IEND/],
    ['a first chunk that is not IHDR', () => Buffer.concat([smallPng.subarray(0, 8), chunk('tEXt', Buffer.from('a\0b')), smallPng.subarray(8)]), /first chunk is "tEXt", not IHDR/],
    ['an unknown compression method', () => withChunksBeforeIend(smallPng, credentialChunk(deflateSync('{}'), 1, 1)), /compression method 1 is not deflate/],
    ['compressed text that does not inflate', () => withChunksBeforeIend(smallPng, credentialChunk(Buffer.from('not deflate'), 1)), /does not inflate/],
    ['text that is not UTF-8', () => withChunksBeforeIend(smallPng, credentialChunk(Buffer.from([0x7b, 0xff, 0x7d]))), /not UTF-8/],
    ['cut-short iTXt fields', () => withChunksBeforeIend(smallPng, chunk('iTXt', Buffer.from('openbadgecredential\0\0\0ja'))), /header fields are cut short/],
    ['no credential', () => smallPng, /no baked Open Badges 3\.0 credential/],
  ])('refuses a PNG with %s', (_, png, message) => {
    expect(bakingError(() => extractBakedCredential(png())).message).toMatch(message);
  });
});

describe('hostile input is refused in bounded time and memory', () => {
  test('10 MB of random bytes', () => {
    expect(refusedQuickly(() => extractBakedCredential(randomBytes(TEN_MB))).message).toMatch(/neither a PNG image nor an SVG image/);
  });

  test('10 MB of random bytes after a PNG signature', () => {
    const garbage = Buffer.concat([smallPng.subarray(0, 8), randomBytes(TEN_MB)]);
    expect(refusedQuickly(() => extractBakedCredential(garbage)).message).toMatch(/PNG is (truncated|corrupt)/);
  });

  test('a zip bomb: compressed text that would inflate to 100 MB', () => {
    const bomb = deflateSync(Buffer.alloc(100 * 1024 * 1024, 0x20));
    const png = withChunksBeforeIend(smallPng, credentialChunk(bomb, 1));
    expect(refusedQuickly(() => extractBakedCredential(png)).message).toMatch(/inflates to more than 5242880 bytes/);
  });

  test('a PNG of 800,000 empty chunks, the last of them a second credential', () => {
    const emptyChunk = chunk('tEXt', Buffer.alloc(0));
    const png = withChunksBeforeIend(smallPng, credentialChunk(Buffer.from('{}')), Buffer.concat(Array.from({ length: 800_000 }, () => emptyChunk)), credentialChunk(Buffer.from('{}')));
    expect(refusedQuickly(() => extractBakedCredential(png)).message).toMatch(/more than one/);
  });

  test.each([
    ['10 MB of "<"', () => `<svg>${'<'.repeat(TEN_MB)}`],
    ['an unclosed credential of 10 MB', () => `<svg><openbadges:credential>${'{'.repeat(TEN_MB)}`],
    ['a 10 MB tag of attribute-like text', () => `<svg><openbadges:credential${' a='.repeat(TEN_MB / 3)}/></svg>`],
    ['10 MB of bare ampersands', () => `<svg><openbadges:credential>${'&a'.repeat(TEN_MB / 2)}</openbadges:credential></svg>`],
    ['10 MB of open comments', () => `<svg>${'<!-'.repeat(TEN_MB / 3)}`],
  ])('an SVG with %s', (_, svg) => {
    const bytes = Buffer.from(svg());
    refusedQuickly(() => extractBakedCredential(bytes));
  });
});
