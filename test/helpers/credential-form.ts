import type { Page } from 'playwright-core';

export interface CredentialFormInput {
  name: string;
  description: string;
  criteriaNarrative: string;
  learningOutcome: string;
  assessmentType: string;
  qualityAssurance: string;
}

/** Fills the editor's definition fields (not the criteria) as a teacher would; the rest keep their defaults. */
export async function fillCredentialForm(page: Page, input: CredentialFormInput): Promise<void> {
  await page.fill('#f-name', input.name);
  await page.fill('#f-description', input.description);
  await page.fill('#f-criteriaNarrative', input.criteriaNarrative);
  await page.fill('#f-learningOutcomes', input.learningOutcome);
  await page.fill('#f-workloadHours', '8');
  await page.selectOption('#f-eqfLevel', '4');
  await page.check(`input[name="assessmentTypes"][value="${input.assessmentType}"]`);
  await page.selectOption('#f-participation', 'online');
  await page.fill('#f-qualityAssurance', input.qualityAssurance);
  await page.fill('#f-awardingBodyName', 'Example University');
  await page.fill('#f-awardingCountry', 'JP');
}
