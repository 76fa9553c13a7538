import { bakePng, bakeSvg, badgePng, badgeSvg } from '../issuance/baking.js';
import { certificatePdf } from '../issuance/certificate-pdf.js';
import type { IssuedRow } from '../issuance/issuance-service.js';
import { formatDateTime, translator, type Language } from './i18n.js';

/** What a holder can download: the signed JSON, the badge baked into SVG or PNG, the printable certificate. */
export const DOWNLOAD_FORMATS = ['credential.json', 'badge.svg', 'badge.png', 'certificate.pdf'] as const;
export type DownloadFormat = (typeof DOWNLOAD_FORMATS)[number];

interface CredentialFacts {
  name: string;
  description: string;
  issuerName: string;
  creditsEarned?: number;
}

function factsOf(document: Record<string, unknown>): CredentialFacts {
  const subject = document.credentialSubject as { achievement: { name: string; description: string }; creditsEarned?: number };
  return {
    name: subject.achievement.name,
    description: subject.achievement.description,
    issuerName: (document.issuer as { name: string }).name,
    ...(subject.creditsEarned !== undefined ? { creditsEarned: subject.creditsEarned } : {}),
  };
}

/** The verification page of an issued credential; it shows a report once the holder shares it. */
export function verificationPageUrl(publicUrl: string, issuedId: string): string {
  return `${publicUrl}/verify?credential=${issuedId}`;
}

export class CredentialDownloads {
  constructor(private readonly publicUrl: string) {}

  async render(row: IssuedRow, format: DownloadFormat, lang: Language): Promise<{ contentType: string; fileName: string; body: Buffer | string }> {
    const facts = factsOf(row.document);
    const base = `credential-${row.id}`;
    switch (format) {
      case 'credential.json':
        return { contentType: 'application/vc+ld+json', fileName: `${base}.json`, body: JSON.stringify(row.document, null, 2) };
      case 'badge.svg':
        return { contentType: 'image/svg+xml', fileName: `${base}.svg`, body: bakeSvg(badgeSvg({ title: facts.name, subtitle: facts.issuerName }), row.document) };
      case 'badge.png':
        return { contentType: 'image/png', fileName: `${base}.png`, body: bakePng(badgePng({}), row.document) };
      case 'certificate.pdf': {
        const t = translator(lang);
        const body = await certificatePdf({
          lang,
          labels: {
            heading: t('certificate.heading'), awardedTo: t('certificate.awardedTo'), credits: t('certificate.credits'), issuedBy: t('certificate.issuedBy'),
            issuedOn: t('certificate.issuedOn'), verifyAt: t('certificate.verifyAt'), credentialId: t('certificate.credentialId'),
          },
          learnerName: row.holder_name ?? t('certificate.unnamed'),
          achievementName: facts.name,
          achievementDescription: facts.description,
          ...(facts.creditsEarned !== undefined ? { credits: t('certificate.ects', { count: facts.creditsEarned, credits: new Intl.NumberFormat(lang).format(facts.creditsEarned) }) } : {}),
          issuerName: facts.issuerName,
          issuedOn: formatDateTime(row.issued_at, lang),
          credentialId: `urn:uuid:${row.id}`,
          verificationUrl: verificationPageUrl(this.publicUrl, row.id),
        });
        return { contentType: 'application/pdf', fileName: `${base}.pdf`, body };
      }
    }
  }
}
