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

/** Every stream of the PDF, inflated where it is compressed. */
function streams(pdf: Buffer): string[] {
  const out: string[] = [];
  const text = pdf.toString('latin1');
  const re = /<<([^]*?)>>\s*stream\r?\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[0].length;
    const end = text.indexOf('endstream', start);
    const raw = pdf.subarray(start, end);
    try {
      out.push(/FlateDecode/.test(m[1]!) ? inflateSync(raw).toString('latin1') : raw.toString('latin1'));
    } catch {
      // A font program may be compressed in a way inflateSync does not take without its tail.
      out.push('');
    }
  }
  return out;
}

describe('the PDF certificate', () => {
  test('one page, with the Japanese font embedded and mapped back to its characters, and the QR code drawn', async () => {
    const pdf = await certificatePdf(content);
    const text = pdf.toString('latin1');
    expect(text.startsWith('%PDF-')).toBe(true);
    expect(text.trimEnd().endsWith('%%EOF')).toBe(true);
    expect(text.match(/\/Type \/Page\b/g)).toHaveLength(1);
    expect(text).toMatch(/\/FontFile2/);
    const all = streams(pdf);
    const cmaps = all.filter((s) => s.includes('beginbfchar') || s.includes('beginbfrange')).join('\n').toUpperCase();
    for (const ch of '修了山田花子東京') expect(cmaps).toContain(ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0'));
    const dark = QRCode.create(content.verificationUrl, { errorCorrectionLevel: 'M' }).modules.data.filter(Boolean).length;
    const rects = all.map((s) => (s.match(/ re\b/g) ?? []).length).reduce((a, b) => a + b, 0);
    // Two for the border, one per dark module of the QR code.
    expect(rects).toBe(dark + 2);
  });

  test('a very long description and names still fit on one page', async () => {
    const pdf = await certificatePdf({ ...content, achievementDescription: 'とても長い説明。'.repeat(500), learnerName: '寿限無'.repeat(40), achievementName: 'A'.repeat(400) });
    expect(pdf.toString('latin1').match(/\/Type \/Page\b/g)).toHaveLength(1);
  });
});
