import { deflateSync, inflateSync } from 'node:zlib';

/**
 * Badge images and Open Badges 3.0 baking (https://www.imsglobal.org/spec/ob/v3p0/#baking): the
 * credential travels inside its own image, in a PNG iTXt chunk or an SVG <openbadges:credential>
 * element. Extraction reads uploads from anyone, so every scan here takes time and memory linear in
 * the input, and inflating is bounded.
 */

export class BakingError extends Error {}

/** Anything larger is not a credential; the bound keeps a compressed chunk from inflating without limit. */
const MAX_CREDENTIAL_BYTES = 5 * 1024 * 1024;

const OB3_NAMESPACE = 'https://purl.imsglobal.org/ob/v3p0';
const SVG_CREDENTIAL_ELEMENT = 'openbadges:credential';
const PNG_KEYWORD = 'openbadgecredential';

const DOWNLOAD_AGAIN = 'Download the badge image again from its issuer.';
const ASK_ISSUER = 'Ask the issuer for a new badge image.';
const NOT_A_BADGE_IMAGE =
  'The file is neither a PNG image nor an SVG image (UTF-8 text with an <svg> root element), so it cannot hold a baked credential. ' +
  "Upload the badge image exactly as downloaded from the issuer, or the credential's JSON instead.";

const utf8 = new TextDecoder('utf-8', { fatal: true });

// --- Colours --------------------------------------------------------------------------------------

type Rgb = readonly [number, number, number];
const DEFAULT_COLOR = '#1a5fb4';
const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const DARK_TEXT: Rgb = [27, 27, 27];

/** Only #rgb or #rrggbb: the colour lands in SVG attributes, so nothing else may pass. */
function parseColor(color: string = DEFAULT_COLOR): Rgb {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color)?.[1];
  if (hex === undefined) throw new RangeError(`badge colour must be #rgb or #rrggbb, not ${JSON.stringify(color)}`);
  const full = hex.length === 3 ? [...hex].map((digit) => digit + digit).join('') : hex;
  return [parseInt(full.slice(0, 2), 16), parseInt(full.slice(2, 4), 16), parseInt(full.slice(4, 6), 16)];
}

function mix(color: Rgb, other: Rgb, otherShare: number): Rgb {
  const channel = (i: 0 | 1 | 2) => Math.round(color[i] * (1 - otherShare) + other[i] * otherShare);
  return [channel(0), channel(1), channel(2)];
}

function hex(color: Rgb): string {
  return `#${color.map((channel) => channel.toString(16).padStart(2, '0')).join('')}`;
}

/** White on dark colours, near-black on light ones, so that the title stays readable. */
function inkFor(color: Rgb): Rgb {
  const luminance = (0.2126 * color[0] + 0.7152 * color[1] + 0.0722 * color[2]) / 255;
  return luminance > 0.6 ? DARK_TEXT : WHITE;
}

// --- SVG badge ------------------------------------------------------------------------------------

const FONT_FAMILY = 'Noto Sans CJK JP, IPAexGothic, sans-serif';
const CENTER = 200;
const MEDALLION_CENTER_Y = 180;
const TITLE = { fontSizes: [30, 26, 22], lineHeight: 1.25, width: 220, maxLines: 3, centerY: 170 } as const;
const SUBTITLE = { fontSize: 16, width: 190, baselineY: 268 } as const;

const WORDS = new Intl.Segmenter('ja', { granularity: 'word' });
const GRAPHEMES = new Intl.Segmenter('ja', { granularity: 'grapheme' });
const OPENING_PUNCTUATION = /^[\p{Ps}\p{Pi}]+$/u;
const CLOSING_PUNCTUATION = /^[\p{Pe}\p{Pf}\p{Po}]+$/u;
const WIDE_CHARACTER = /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1FAFF}\u{20000}-\u{3FFFD}]/u;
const NOT_XML_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Rough advance width in em, without font metrics: CJK and fullwidth characters are square, the rest about 0.6 em. */
function emWidth(text: string): number {
  let width = 0;
  for (const character of text) width += WIDE_CHARACTER.test(character) ? 1 : 0.6;
  return width;
}

function graphemes(text: string): string[] {
  return Array.from(GRAPHEMES.segment(text), ({ segment }) => segment);
}

/**
 * Where a line may break: between words, which for Japanese (no spaces) the segmenter finds from
 * its dictionary. Opening brackets stay with the next word and closing punctuation with the
 * previous one (kinsoku); a word wider than a line breaks between its characters.
 */
function* breakablePieces(text: string, maxEm: number): Generator<string> {
  let piece = '';
  let glueToNext = false;
  for (const { segment } of WORDS.segment(text)) {
    if (piece !== '' && !glueToNext && !CLOSING_PUNCTUATION.test(segment)) {
      yield* emWidth(piece) > maxEm ? graphemes(piece) : [piece];
      piece = '';
    }
    piece += segment;
    glueToNext = OPENING_PUNCTUATION.test(segment);
  }
  if (piece !== '') yield* emWidth(piece) > maxEm ? graphemes(piece) : [piece];
}

function withEllipsis(line: string, maxEm: number): string {
  const kept = graphemes(line);
  while (kept.length > 0 && emWidth(`${kept.join('')}…`) > maxEm) kept.pop();
  return `${kept.join('').trimEnd()}…`;
}

/** Far more than three lines can show; the cap bounds the segmenter's work whatever the input. */
const MAX_WRAPPED_LENGTH = 500;

/** Greedy line filling; text beyond maxLines is cut with an ellipsis. */
function wrapText(text: string, maxEm: number, maxLines: number): { lines: string[]; truncated: boolean } {
  const lines: string[] = [];
  let line = '';
  for (const piece of breakablePieces(text.replace(/\s+/g, ' ').trim().slice(0, MAX_WRAPPED_LENGTH), maxEm)) {
    if (line !== '' && emWidth(line + piece.trimEnd()) > maxEm) {
      lines.push(line.trimEnd());
      line = '';
      if (lines.length === maxLines) return { lines: [...lines.slice(0, -1), withEllipsis(lines[maxLines - 1] ?? '', maxEm)], truncated: true };
    }
    if (line === '' && piece.trim() === '') continue;
    line += piece;
  }
  if (line !== '') lines.push(line.trimEnd());
  return { lines, truncated: false };
}

/**
 * The title size with the fewest lines, the larger size when two tie (so a long word is not left
 * alone on a line when a smaller size keeps it whole). When the title fits at no size, the smallest
 * size shows most of it.
 */
function titleLayout(title: string): { fontSize: number; lines: string[] } {
  return TITLE.fontSizes
    .map((fontSize) => ({ fontSize, ...wrapText(title, TITLE.width / fontSize, TITLE.maxLines) }))
    .reduce((best, layout) => (best.truncated || (!layout.truncated && layout.lines.length < best.lines.length) ? layout : best));
}

const XML_ESCAPES = new Map([['&', '&amp;'], ['<', '&lt;'], ['>', '&gt;'], ['"', '&quot;'], ["'", '&apos;']]);

/** Escapes markup and drops characters XML 1.0 forbids (an LMS course name may hold control characters). */
function escapeXml(text: string): string {
  return text.replace(NOT_XML_CHARACTER, '').replace(/[&<>"']/g, (character) => XML_ESCAPES.get(character) ?? character);
}

function textLines(lines: string[], firstBaselineY: number, lineHeight: number): string {
  return lines.map((line, i) => `<tspan x="${CENTER}" y="${firstBaselineY + i * lineHeight}">${escapeXml(line)}</tspan>`).join('');
}

/** A 400×400 medallion on two ribbon tails, with the title (up to 3 lines) and an optional subtitle. Self-contained: no links, fonts or scripts. */
export function badgeSvg(input: { title: string; subtitle?: string; color?: string }): string {
  const base = parseColor(input.color);
  const ink = hex(inkFor(base));
  const ribbon = hex(mix(base, BLACK, 0.3));
  const title = titleLayout(input.title);
  const lineHeight = Math.round(title.fontSize * TITLE.lineHeight);
  // Baselines sit about a third of the font size below the middle of each line.
  const firstTitleBaseline = Math.round(TITLE.centerY - ((title.lines.length - 1) * lineHeight) / 2 + title.fontSize / 3);
  const subtitleLine = input.subtitle === undefined ? [] : wrapText(input.subtitle, SUBTITLE.width / SUBTITLE.fontSize, 1).lines;
  const label = [input.title, input.subtitle].filter((part) => part !== undefined).join(' — ');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400" role="img">`,
    `<title>${escapeXml(label)}</title>`,
    `<polygon points="140,280 100,390 128,378 146,398 190,300" fill="${ribbon}"/>`,
    `<polygon points="260,280 300,390 272,378 254,398 210,300" fill="${ribbon}"/>`,
    `<circle cx="${CENTER}" cy="${MEDALLION_CENTER_Y}" r="160" fill="${hex(base)}"/>`,
    `<circle cx="${CENTER}" cy="${MEDALLION_CENTER_Y}" r="144" fill="none" stroke="${ink}" stroke-width="5" stroke-opacity="0.85"/>`,
    `<circle cx="${CENTER}" cy="${MEDALLION_CENTER_Y}" r="132" fill="${hex(mix(base, WHITE, 0.12))}"/>`,
    `<text text-anchor="middle" font-family="${FONT_FAMILY}" font-size="${title.fontSize}" font-weight="bold" fill="${ink}">${textLines(title.lines, firstTitleBaseline, lineHeight)}</text>`,
    subtitleLine.length > 0 ? `<text text-anchor="middle" font-family="${FONT_FAMILY}" font-size="${SUBTITLE.fontSize}" fill="${ink}">${textLines(subtitleLine, SUBTITLE.baselineY, 0)}</text>` : '',
    '</svg>',
  ].join('');
}

// --- PNG badge ------------------------------------------------------------------------------------

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** The PNG specification caps chunk lengths at 2^31 - 1. */
const MAX_PNG_CHUNK_LENGTH = 0x7fffffff;

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG uses it (ISO 3309, reflected polynomial 0xEDB88320). */
function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = (CRC_TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  chunk.set(data, 8);
  chunk.writeUInt32BE(crc32(chunk, 4, 8 + data.length), 8 + data.length);
  return chunk;
}

/** Concentric discs, back to front, radii as a share of the image size. */
function medallionLayers(base: Rgb): { radius: number; color: Rgb }[] {
  return [
    { radius: 0.49, color: base },
    { radius: 0.43, color: inkFor(base) },
    { radius: 0.4, color: base },
    { radius: 0.33, color: mix(base, WHITE, 0.15) },
  ];
}

/** A square RGBA medallion, anti-aliased by pixel coverage, on a transparent background. */
export function badgePng(input: { color?: string; size?: number }): Buffer {
  const size = input.size ?? 400;
  if (!Number.isInteger(size) || size < 16 || size > 2048) throw new RangeError(`badge size must be a whole number of pixels from 16 to 2048, not ${size}`);
  const layers = medallionLayers(parseColor(input.color));
  const rowLength = 1 + size * 4;
  // Zero-filled, so every row already starts with filter type 0 (None).
  const raw = Buffer.alloc(rowLength * size);
  const center = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const distance = Math.hypot(x + 0.5 - center, y + 0.5 - center);
      // Premultiplied "over" compositing of each disc, weighted by how much of the pixel it covers.
      let red = 0, green = 0, blue = 0, alpha = 0;
      for (const { radius, color } of layers) {
        const coverage = Math.min(1, Math.max(0, radius * size - distance + 0.5));
        if (coverage === 0) continue;
        red = color[0] * coverage + red * (1 - coverage);
        green = color[1] * coverage + green * (1 - coverage);
        blue = color[2] * coverage + blue * (1 - coverage);
        alpha = coverage + alpha * (1 - coverage);
      }
      if (alpha === 0) continue;
      const at = y * rowLength + 1 + x * 4;
      // PNG stores straight (not premultiplied) alpha.
      raw[at] = Math.round(red / alpha);
      raw[at + 1] = Math.round(green / alpha);
      raw[at + 2] = Math.round(blue / alpha);
      raw[at + 3] = Math.round(alpha * 255);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits per channel, RGBA, deflate, adaptive filtering, no interlace
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array())]);
}

// --- PNG baking -----------------------------------------------------------------------------------

const PNG_KEYWORD_FIELD = Buffer.from(`${PNG_KEYWORD}\0`, 'latin1');

function isPng(bytes: Buffer): boolean {
  return bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE);
}

/** An iTXt chunk with keyword openbadgecredential: where it starts, and its data. */
interface CredentialChunk {
  offset: number;
  data: Buffer;
}

/**
 * Walks every chunk from IHDR to IEND, checking each length and CRC, and returns where IEND starts
 * and the one openbadgecredential chunk, if any. A second one is an error straight away: the
 * specification allows only one, and stopping there keeps hostile input from piling up chunks.
 */
function scanPng(png: Buffer): { iendOffset: number; credential?: CredentialChunk } {
  let credential: CredentialChunk | undefined;
  for (let offset = PNG_SIGNATURE.length; ; ) {
    if (offset + 12 > png.length) throw new BakingError(`The PNG is truncated: it ends at byte ${png.length}, before its closing IEND chunk. ${DOWNLOAD_AGAIN}`);
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (length > MAX_PNG_CHUNK_LENGTH || end > png.length) {
      throw new BakingError(`The PNG is truncated or corrupt: chunk ${JSON.stringify(type)} at byte ${offset} declares ${length} bytes of data, more than the ${png.length - offset - 12} left in the file. ${DOWNLOAD_AGAIN}`);
    }
    if (png.readUInt32BE(end - 4) !== crc32(png, offset + 4, end - 4)) {
      throw new BakingError(`The PNG is corrupt: the CRC of chunk ${JSON.stringify(type)} at byte ${offset} does not match its contents. ${DOWNLOAD_AGAIN}`);
    }
    if (offset === PNG_SIGNATURE.length && type !== 'IHDR') throw new BakingError(`The PNG is corrupt: its first chunk is ${JSON.stringify(type)}, not IHDR. ${DOWNLOAD_AGAIN}`);
    if (type === 'IEND') return credential ? { iendOffset: offset, credential } : { iendOffset: offset };
    if (type === 'iTXt') {
      const data = png.subarray(offset + 8, end - 4);
      if (data.subarray(0, PNG_KEYWORD_FIELD.length).equals(PNG_KEYWORD_FIELD)) {
        if (credential) throw new BakingError(`The PNG holds more than one ${PNG_KEYWORD} chunk (at bytes ${credential.offset} and ${offset}); Open Badges 3.0 allows only one, so neither can be trusted. ${ASK_ISSUER}`);
        credential = { offset, data };
      }
    }
    offset = end;
  }
}

/** iTXt data: keyword, NUL, compression flag, compression method, language tag, NUL, translated keyword, NUL, text. */
function iTXtText(chunk: CredentialChunk): string {
  const corrupt = (what: string) => new BakingError(`The PNG's ${PNG_KEYWORD} chunk at byte ${chunk.offset} is corrupt: ${what}. ${ASK_ISSUER}`);
  const { data } = chunk;
  const flagAt = PNG_KEYWORD_FIELD.length;
  const compressed = data[flagAt];
  const method = data[flagAt + 1];
  const languageEnd = data.indexOf(0, flagAt + 2);
  const translatedKeywordEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
  if (compressed === undefined || method === undefined || translatedKeywordEnd < 0) throw corrupt('its header fields are cut short');
  let text = data.subarray(translatedKeywordEnd + 1);
  if (compressed === 1) {
    if (method !== 0) throw corrupt(`compression method ${method} is not deflate (0)`);
    try {
      text = inflateSync(text, { maxOutputLength: MAX_CREDENTIAL_BYTES });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw corrupt(`its compressed text inflates to more than ${MAX_CREDENTIAL_BYTES} bytes`);
      throw corrupt('its compressed text does not inflate');
    }
  } else if (compressed !== 0) {
    throw corrupt(`compression flag ${compressed} is neither 0 nor 1`);
  }
  try {
    return utf8.decode(text);
  } catch {
    throw corrupt('its text is not UTF-8');
  }
}

/** Inserts the credential JSON, uncompressed, in an iTXt chunk just before IEND. */
export function bakePng(png: Buffer, credential: object): Buffer {
  if (!isPng(png)) throw new BakingError('Only a PNG image can be baked as PNG, and this file does not start with the PNG signature.');
  const { iendOffset, credential: baked } = scanPng(png);
  if (baked) throw new BakingError(`The PNG already holds a baked credential (the ${PNG_KEYWORD} chunk at byte ${baked.offset}); bake the credential into the original, unbaked image.`);
  // Empty language tag and translated keyword: the specification gives them no meaning.
  const data = Buffer.concat([PNG_KEYWORD_FIELD, Buffer.from([0, 0, 0, 0]), Buffer.from(JSON.stringify(credential), 'utf8')]);
  return Buffer.concat([png.subarray(0, iendOffset), pngChunk('iTXt', data), png.subarray(iendOffset)]);
}

// --- SVG baking -----------------------------------------------------------------------------------

interface SvgTag {
  kind: 'tag';
  name: string;
  closing: boolean;
  selfClosing: boolean;
  /** From "<" to ">" inclusive. */
  source: string;
  start: number;
  end: number;
}
type SvgToken = SvgTag | { kind: 'text'; value: string } | { kind: 'cdata'; value: string };

const TAG_NAME = /\/?[A-Za-z_][\w.:-]*/y;

function notWellFormed(what: string): BakingError {
  return new BakingError(`The SVG is not well-formed XML: ${what}. ${DOWNLOAD_AGAIN}`);
}

function endOf(svg: string, terminator: string, from: number, what: string): number {
  const at = svg.indexOf(terminator, from);
  if (at < 0) throw notWellFormed(`a ${what} is never closed`);
  return at + terminator.length;
}

/** The index after a tag's ">", skipping any ">" inside quoted attribute values. */
function tagEnd(svg: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < svg.length; i++) {
    const character = svg[i];
    if (quote !== undefined) {
      if (character === quote) quote = undefined;
    } else if (character === '"' || character === "'") {
      quote = character;
    } else if (character === '>') {
      return i + 1;
    }
  }
  throw notWellFormed('a tag is never closed with ">"');
}

/**
 * Splits XML into tags, text (entities still encoded) and CDATA sections, from `from` on; comments,
 * processing instructions and declarations are skipped. Not a parser: it knows just enough
 * structure not to be fooled by a "<" in a comment, a CDATA section or an attribute value.
 */
function* svgTokens(svg: string, from = 0): Generator<SvgToken> {
  // A "<" that cannot start markup is text; the regex skips runs of those natively.
  const markupStart = /<[!?/A-Za-z_]/g;
  let textStart = from;
  markupStart.lastIndex = from;
  for (let found = markupStart.exec(svg); found; found = markupStart.exec(svg)) {
    const lt = found.index;
    let end: number;
    let token: SvgToken | undefined;
    if (svg.startsWith('<![CDATA[', lt)) {
      end = endOf(svg, ']]>', lt + 9, 'CDATA section');
      token = { kind: 'cdata', value: svg.slice(lt + 9, end - 3) };
    } else if (svg.startsWith('<!--', lt)) {
      end = endOf(svg, '-->', lt + 4, 'comment');
    } else if (svg.startsWith('<?', lt)) {
      end = endOf(svg, '?>', lt + 2, 'processing instruction');
    } else if (svg.startsWith('<!', lt)) {
      end = endOf(svg, '>', lt + 2, 'declaration');
    } else {
      TAG_NAME.lastIndex = lt + 1;
      const name = TAG_NAME.exec(svg)?.[0];
      if (name === undefined) continue; // "</" without a name
      end = tagEnd(svg, TAG_NAME.lastIndex);
      const source = svg.slice(lt, end);
      const closing = name.startsWith('/');
      token = { kind: 'tag', name: closing ? name.slice(1) : name, closing, selfClosing: source.endsWith('/>'), source, start: lt, end };
    }
    if (textStart < lt) yield { kind: 'text', value: svg.slice(textStart, lt) };
    if (token) yield token;
    textStart = end;
    markupStart.lastIndex = end;
  }
  if (textStart < svg.length) yield { kind: 'text', value: svg.slice(textStart) };
}

/** The root <svg> opening tag, or undefined when the text is not an SVG document. */
function svgRoot(svg: string): SvgTag | undefined {
  for (const token of svgTokens(svg)) {
    if (token.kind === 'tag') return token.name === 'svg' && !token.closing ? token : undefined;
    if (token.kind === 'cdata' || token.value.trim() !== '') return undefined;
  }
  return undefined;
}

const XML_ENTITIES = new Map([['lt', '<'], ['gt', '>'], ['amp', '&'], ['quot', '"'], ['apos', "'"]]);

/**
 * Decodes character and entity references; a bare "&" is refused, as XML refuses it. A lazy exec
 * loop rather than replace(), which would first collect every match of a hostile text at once.
 */
function decodeXml(text: string): string {
  const reference = /&(?:(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]{1,8});)?/g;
  let decoded = '';
  let copiedUpTo = 0;
  for (let match = reference.exec(text); match; match = reference.exec(text)) {
    decoded += text.slice(copiedUpTo, match.index) + referencedCharacter(match[1], match[0]);
    copiedUpTo = reference.lastIndex;
  }
  return decoded + text.slice(copiedUpTo);
}

function referencedCharacter(name: string | undefined, reference: string): string {
  if (name?.startsWith('#')) {
    const codePoint = name.startsWith('#x') ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    if (codePoint <= 0x10ffff) return String.fromCodePoint(codePoint);
  } else if (name !== undefined) {
    const character = XML_ENTITIES.get(name);
    if (character !== undefined) return character;
  }
  throw new BakingError(`The SVG uses the unknown or invalid XML reference ${JSON.stringify(reference)}. ${ASK_ISSUER}`);
}

/**
 * The value of a tag's attribute, read from attribute to attribute so that nothing inside a quoted
 * value is taken for an attribute. The regex is sticky: each attempt starts at one place only, so a
 * hostile tag costs linear time, and nothing is kept but the one value.
 */
function attributeValue(tag: SvgTag, name: string): string | undefined {
  const attribute = /\s+([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;
  attribute.lastIndex = 1 + tag.name.length;
  for (let match = attribute.exec(tag.source); match; match = attribute.exec(tag.source)) {
    if (match[1] === name) return decodeXml(match[2] ?? match[3] ?? '');
  }
  return undefined;
}

/** A CDATA section for any text: where the text holds "]]>", which would end the section early, the section is split there. */
function cdataSection(text: string): string {
  return `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/**
 * Adds the openbadges namespace to the root <svg> and, right after its opening tag, the credential
 * JSON in an <openbadges:credential> element. No `verify` attribute: that carries a VC-JWT, and
 * this credential has an embedded proof.
 */
export function bakeSvg(svg: string, credential: object): string {
  const root = svgRoot(svg);
  if (!root) throw new BakingError('Only an SVG document can be baked as SVG, and this text does not have an <svg> root element.');
  for (const token of svgTokens(svg, root.end)) {
    if (token.kind === 'tag' && token.name === SVG_CREDENTIAL_ELEMENT) throw new BakingError(`The SVG already holds a baked credential (an <${SVG_CREDENTIAL_ELEMENT}> element); bake the credential into the original, unbaked image.`);
  }
  const declared = attributeValue(root, 'xmlns:openbadges');
  if (declared !== undefined && declared !== OB3_NAMESPACE) {
    throw new BakingError(`The SVG already binds the openbadges prefix to ${JSON.stringify(declared)}, not to ${OB3_NAMESPACE}; bake the credential into an image without it.`);
  }
  const attributesEnd = root.end - (root.selfClosing ? 2 : 1);
  const openingTag = `${svg.slice(root.start, attributesEnd).trimEnd()}${declared === undefined ? ` xmlns:openbadges="${OB3_NAMESPACE}"` : ''}>`;
  // XML 1.0 forbids U+FFFE and U+FFFF even in CDATA; JSON.stringify leaves them raw, but they can only be inside strings, where \u escapes mean the same.
  const json = JSON.stringify(credential).replace(/[\uFFFE\uFFFF]/g, (character) => `\\u${character.charCodeAt(0).toString(16)}`);
  const element = `<${SVG_CREDENTIAL_ELEMENT}>${cdataSection(json)}</${SVG_CREDENTIAL_ELEMENT}>`;
  return svg.slice(0, root.start) + openingTag + element + (root.selfClosing ? '</svg>' : '') + svg.slice(root.end);
}

/** The credential in an <openbadges:credential> element: its `verify` attribute (a VC-JWT) or else its text, CDATA or escaped. */
function svgCredentialText(svg: string, root: SvgTag): string {
  let found: string | undefined;
  let verify: string | undefined;
  let body: string[] | undefined; // set while inside the element
  for (const token of svgTokens(svg, root.end)) {
    if (body) {
      if (token.kind === 'cdata') body.push(token.value);
      else if (token.kind === 'text') body.push(decodeXml(token.value));
      else if (token.closing && token.name === SVG_CREDENTIAL_ELEMENT) {
        found = verify ?? body.join('').trim();
        body = undefined;
      } else {
        throw new BakingError(`The SVG's <${SVG_CREDENTIAL_ELEMENT}> element holds markup (<${token.closing ? '/' : ''}${token.name}>) where only the credential belongs. ${ASK_ISSUER}`);
      }
    } else if (token.kind === 'tag' && token.name === SVG_CREDENTIAL_ELEMENT && !token.closing) {
      if (found !== undefined) throw new BakingError(`The SVG holds more than one <${SVG_CREDENTIAL_ELEMENT}> element; Open Badges 3.0 allows only one, so neither can be trusted. ${ASK_ISSUER}`);
      verify = attributeValue(token, 'verify');
      if (token.selfClosing) found = verify ?? '';
      else body = [];
    }
  }
  if (body) throw notWellFormed(`the <${SVG_CREDENTIAL_ELEMENT}> element is never closed`);
  if (found === undefined) {
    throw new BakingError(`The SVG has no baked Open Badges 3.0 credential (no <${SVG_CREDENTIAL_ELEMENT}> element). Use the badge image downloaded from the issuer after the award, or the credential's JSON.`);
  }
  if (found === '') throw new BakingError(`The SVG's <${SVG_CREDENTIAL_ELEMENT}> element is empty. ${ASK_ISSUER}`);
  return found;
}

/** Reads the credential baked into a PNG or SVG badge: its JSON, or a VC-JWT, as text; the caller parses and verifies it. */
export function extractBakedCredential(bytes: Buffer): { format: 'png' | 'svg'; credentialText: string } {
  if (isPng(bytes)) {
    const { credential } = scanPng(bytes);
    if (!credential) {
      throw new BakingError(`The PNG has no baked Open Badges 3.0 credential (no iTXt chunk with keyword ${PNG_KEYWORD}). Use the badge image downloaded from the issuer after the award, or the credential's JSON.`);
    }
    return { format: 'png', credentialText: iTXtText(credential) };
  }
  let svg: string;
  try {
    svg = utf8.decode(bytes);
  } catch {
    throw new BakingError(NOT_A_BADGE_IMAGE);
  }
  const root = svgRoot(svg);
  if (!root) throw new BakingError(NOT_A_BADGE_IMAGE);
  return { format: 'svg', credentialText: svgCredentialText(svg, root) };
}

export type CredentialBody = { text: string } | { notBaked: string } | { unsupported: true };

/** A request body as a credential's text: JSON text as it is, or what a badge image has baked in. */
export function credentialTextOf(body: unknown): CredentialBody {
  if (Buffer.isBuffer(body)) {
    try {
      return { text: extractBakedCredential(body).credentialText };
    } catch (err) {
      if (!(err instanceof BakingError)) throw err;
      return { notBaked: err.message };
    }
  }
  return typeof body === 'string' ? { text: body } : { unsupported: true };
}
