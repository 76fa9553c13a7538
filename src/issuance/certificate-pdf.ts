import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import QRCode from 'qrcode';

/**
 * The printable certificate: one A4 landscape page with the learner, the achievement, its credits,
 * the issuer, the date and a QR code to the verification page. Nothing is fetched: the font comes
 * from an installed package and is embedded as a subset, and the QR code is drawn as vector squares.
 */

export interface CertificateContent {
  lang: 'en' | 'ja';
  /** Already translated. */
  labels: { heading: string; awardedTo: string; credits: string; issuedBy: string; issuedOn: string; verifyAt: string; credentialId: string };
  learnerName: string;
  achievementName: string;
  achievementDescription: string;
  /** Already formatted, e.g. "3 ECTS". */
  credits?: string;
  issuerName: string;
  /** Already localized. */
  issuedOn: string;
  credentialId: string;
  verificationUrl: string;
}

const require = createRequire(import.meta.url);
/** Noto Sans JP (SIL OFL 1.1): some 13,700 kanji, well beyond JIS levels 1 and 2, so rare kanji in names print too; Latin as well. */
const FONT_FILES = {
  regular: require.resolve('@expo-google-fonts/noto-sans-jp/400Regular/NotoSansJP_400Regular.ttf'),
  bold: require.resolve('@expo-google-fonts/noto-sans-jp/700Bold/NotoSansJP_700Bold.ttf'),
};

const INK = '#1f2937';
const MUTED = '#6b7280';
const ACCENT = '#1e3a8a';
const MARGIN = 70;
const QR_SIZE = 130;
/**
 * No box holds more characters than this. pdfkit measures a run with no break opportunity
 * character by character, so an uncapped huge input would take minutes to lay out.
 */
const MAX_CHARACTERS = 1000;

type Doc = PDFKit.PDFDocument;
type Align = PDFKit.Mixins.TextOptions['align'];

export async function certificatePdf(content: CertificateContent): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4', layout: 'landscape', margin: 0, pdfVersion: '1.7', lang: content.lang, displayTitle: true,
    info: { Title: content.achievementName, Author: content.issuerName, Subject: content.labels.heading },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });
  doc.registerFont('regular', FONT_FILES.regular);
  doc.registerFont('bold', FONT_FILES.bold);

  const { width, height } = doc.page;
  const fullWidth = width - 2 * MARGIN;
  const columnWidth = fullWidth - QR_SIZE - 40;
  const qrLeft = width - MARGIN - QR_SIZE;
  const captionLeft = qrLeft - 90;
  // Below the description the QR code's caption reaches further left; the facts and the id keep clear of it.
  const lowerColumnWidth = captionLeft - 20 - MARGIN;
  doc.lineWidth(3).strokeColor(ACCENT).rect(24, 24, width - 48, height - 48).stroke();
  doc.lineWidth(0.8).rect(34, 34, width - 68, height - 68).stroke();

  // Every text goes in a box of a few lines at a fixed place, so nothing can push onto a second page.
  doc.font('bold').fillColor(ACCENT);
  oneLine(doc, content.labels.heading, MARGIN, 70, fullWidth, 30);
  doc.font('regular').fontSize(12).fillColor(INK);
  textBox(doc, content.labels.awardedTo, MARGIN, 135, fullWidth, 1, 'center');
  doc.font('bold');
  oneLine(doc, content.learnerName, MARGIN, 155, fullWidth, 28);

  doc.font('bold').fontSize(18).fillColor(ACCENT);
  textBox(doc, content.achievementName, MARGIN, 215, columnWidth, 2);
  const factsTop = 405;
  const descriptionTop = doc.y + 10;
  doc.font('regular').fontSize(10.5).fillColor(INK);
  textBox(doc, content.achievementDescription, MARGIN, descriptionTop, columnWidth, Math.floor((factsTop - 15 - descriptionTop) / doc.currentLineHeight(true)));

  const facts: Array<[label: string, value: string]> = [
    ...(content.credits ? [[content.labels.credits, content.credits] as [string, string]] : []),
    [content.labels.issuedBy, content.issuerName],
    [content.labels.issuedOn, content.issuedOn],
  ];
  facts.forEach(([label, value], index) => {
    const y = factsTop + index * 38;
    doc.font('regular').fontSize(9).fillColor(MUTED);
    textBox(doc, label, MARGIN, y, lowerColumnWidth, 1);
    doc.font('bold').fontSize(12).fillColor(INK);
    textBox(doc, value, MARGIN, y + 12, lowerColumnWidth, 1);
  });

  const qrTop = 355;
  const moduleSize = drawQrCode(doc, content.verificationUrl, qrLeft, qrTop);
  // The caption leaves the quiet zone of four modules that scanners need. The URL is printed whole,
  // over up to three lines, for those who cannot scan.
  doc.font('regular').fontSize(8).fillColor(INK);
  textBox(doc, content.labels.verifyAt, captionLeft, qrTop + QR_SIZE + 4 * moduleSize, QR_SIZE + 90, 1, 'right');
  doc.fontSize(6.5);
  textBox(doc, content.verificationUrl, captionLeft, doc.y, QR_SIZE + 90, 3, 'right');
  doc.fontSize(7).fillColor(MUTED);
  textBox(doc, `${content.labels.credentialId}: ${content.credentialId}`, MARGIN, height - 58, lowerColumnWidth, 1);

  doc.end();
  await ended;
  return Buffer.concat(chunks);
}

/** `text` in at most `lines` lines at the current font and size, cut with an ellipsis past that. */
function textBox(doc: Doc, text: string, x: number, y: number, width: number, lines: number, align: Align = 'left'): void {
  // The point of slack keeps rounding from dropping the last line.
  doc.text(truncated(text, MAX_CHARACTERS), x, y, { width, align, height: lines * doc.currentLineHeight(true) + 1, ellipsis: true });
}

/** `text` centred on one line, shrunk from `maxSize` (down to 60% of it) to fit `width`, and cut only past that. */
function oneLine(doc: Doc, text: string, x: number, y: number, width: number, maxSize: number): void {
  const capped = truncated(text, MAX_CHARACTERS);
  doc.fontSize(maxSize);
  const naturalWidth = doc.widthOfString(capped);
  const fullLineHeight = doc.currentLineHeight(true);
  // Width is proportional to size; rounding down to half points keeps the fitted text inside the width.
  const size = naturalWidth <= width ? maxSize : Math.max(0.6 * maxSize, Math.floor((2 * maxSize * width) / naturalWidth) / 2);
  doc.fontSize(size);
  // Centred in the line it would have had at full size, so shrunk text does not sit high.
  textBox(doc, capped, x, y + (fullLineHeight - doc.currentLineHeight(true)) / 2, width, 1, 'center');
}

/** At most `max` characters, counted in code points so a surrogate pair is never split. */
function truncated(text: string, max: number): string {
  const characters = Array.from(text);
  return characters.length <= max ? text : `${characters.slice(0, max - 1).join('')}…`;
}

/** One filled square per dark module: sharp at any print size, and no image to embed. Returns the module size. */
function drawQrCode(doc: Doc, text: string, left: number, top: number): number {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const cell = QR_SIZE / modules.size;
  for (let row = 0; row < modules.size; row++) {
    for (let column = 0; column < modules.size; column++) {
      if (modules.get(row, column)) doc.rect(left + column * cell, top + row * cell, cell, cell);
    }
  }
  doc.fillColor('#000000').fill();
  return cell;
}
