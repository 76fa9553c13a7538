import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import QRCode from 'qrcode';

/**
 * The printable certificate: one A4 landscape page with the learner, the achievement, its credits,
 * the issuer and a QR code to the verification page. Noto Sans JP (OFL) is embedded as a subset,
 * so Japanese prints on any reader; the QR code is drawn as vector squares.
 */

export interface CertificateContent {
  lang: 'en' | 'ja';
  /** Already translated. */
  labels: { heading: string; awardedTo: string; credits: string; issuedBy: string; issuedOn: string; verifyAt: string; credentialId: string };
  learnerName: string;
  achievementName: string;
  achievementDescription: string;
  /** Already formatted, e.g. "3 ECTS credits". */
  credits?: string;
  issuerName: string;
  /** Already localized. */
  issuedOn: string;
  credentialId: string;
  verificationUrl: string;
}

const require = createRequire(import.meta.url);
const FONT_REGULAR = require.resolve('@expo-google-fonts/noto-sans-jp/400Regular/NotoSansJP_400Regular.ttf');
const FONT_BOLD = require.resolve('@expo-google-fonts/noto-sans-jp/700Bold/NotoSansJP_700Bold.ttf');
const MAX_DESCRIPTION = 600;
const INK = '#1f2937';
const ACCENT = '#1e3a8a';

export function certificatePdf(content: CertificateContent): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4', layout: 'landscape', margin: 0, autoFirstPage: true, lang: content.lang,
    info: { Title: content.achievementName, Author: content.issuerName, Subject: content.labels.heading },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.registerFont('body', FONT_REGULAR);
  doc.registerFont('bold', FONT_BOLD);

  const { width, height } = doc.page;
  const left = 70;
  const textWidth = width - left * 2 - 170;
  doc.lineWidth(3).strokeColor(ACCENT).rect(24, 24, width - 48, height - 48).stroke();
  doc.lineWidth(0.8).rect(34, 34, width - 68, height - 68).stroke();

  // Each block is placed at a fixed height, and each text is bounded, so the page never overflows.
  doc.font('bold').fontSize(30).fillColor(ACCENT).text(content.labels.heading, left, 70, { width: width - left * 2, align: 'center' });
  doc.font('body').fontSize(12).fillColor(INK).text(content.labels.awardedTo, left, 135, { width: width - left * 2, align: 'center' });
  doc.font('bold').fontSize(26).text(content.learnerName, left, 155, { width: width - left * 2, align: 'center', height: 40, ellipsis: true });
  doc.font('bold').fontSize(18).fillColor(ACCENT).text(content.achievementName, left, 215, { width: textWidth, height: 50, ellipsis: true });
  const description = content.achievementDescription.length > MAX_DESCRIPTION ? `${content.achievementDescription.slice(0, MAX_DESCRIPTION - 1)}…` : content.achievementDescription;
  doc.font('body').fontSize(10.5).fillColor(INK).text(description, left, 270, { width: textWidth, height: 120, ellipsis: true });

  const facts: Array<[string, string]> = [
    ...(content.credits ? [[content.labels.credits, content.credits] as [string, string]] : []),
    [content.labels.issuedBy, content.issuerName],
    [content.labels.issuedOn, content.issuedOn],
  ];
  let y = 405;
  for (const [label, value] of facts) {
    doc.font('body').fontSize(9).fillColor('#6b7280').text(label, left, y, { width: textWidth });
    doc.font('bold').fontSize(12).fillColor(INK).text(value, left, y + 12, { width: textWidth, height: 18, ellipsis: true });
    y += 38;
  }

  const qr = QRCode.create(content.verificationUrl, { errorCorrectionLevel: 'M' });
  const qrSize = 130;
  const cell = qrSize / qr.modules.size;
  const qrX = width - left - qrSize;
  const qrY = 390;
  doc.fillColor('#000000');
  for (let row = 0; row < qr.modules.size; row++) {
    for (let col = 0; col < qr.modules.size; col++) {
      if (qr.modules.get(row, col)) doc.rect(qrX + col * cell, qrY + row * cell, cell, cell);
    }
  }
  doc.fill();
  doc.font('body').fontSize(8).fillColor(INK).text(content.labels.verifyAt, qrX - 40, qrY + qrSize + 6, { width: qrSize + 40, align: 'right' });
  doc.fontSize(6.5).text(content.verificationUrl, qrX - 90, qrY + qrSize + 18, { width: qrSize + 90, align: 'right', height: 18, ellipsis: true });
  doc.fontSize(7).fillColor('#6b7280').text(`${content.labels.credentialId}: ${content.credentialId}`, left, height - 58, { width: width - left * 2, lineBreak: false });
  doc.end();
  return done;
}
