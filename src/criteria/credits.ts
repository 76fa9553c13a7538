/**
 * Credit systems and the one conversion between them. Both are measured in notional learning
 * hours, so a credit converts through its hours:
 * - ECTS: 25–30 hours of work per credit (ECTS Users' Guide 2015); the tool uses 30.
 * - Credit hour: 45 hours per credit, classroom and self-study together (the US Carnegie unit,
 *   the Japanese 単位 under the University Establishment Standards, and the 15 + 30 hours of the
 *   Thai and Korean credit banks).
 * So 1 credit hour = 1.5 ECTS. docs/pathways.md explains the choice.
 */

export const CREDIT_SYSTEMS = ['ects', 'creditHours'] as const;
export type CreditSystem = (typeof CREDIT_SYSTEMS)[number];

export const HOURS_PER_CREDIT: Readonly<Record<CreditSystem, number>> = { ects: 30, creditHours: 45 };

/** What the Achievement says in creditSystem (our extension term) for each system. */
export const CREDIT_SYSTEM_LABEL: Readonly<Record<CreditSystem, string>> = { ects: 'ECTS', creditHours: 'CreditHour' };

export interface Credits {
  amount: number;
  system: CreditSystem;
}

/** Credits in another system, to the hundredth (the sums stay free of floating-point dust). */
export function convertCredits(credits: Credits, to: CreditSystem): number {
  if (credits.system === to) return credits.amount;
  return Math.round((credits.amount * HOURS_PER_CREDIT[credits.system] * 100) / HOURS_PER_CREDIT[to]) / 100;
}

export function sumCredits(all: readonly Credits[], to: CreditSystem): number {
  return Math.round(all.reduce((total, c) => total + convertCredits(c, to) * 100, 0)) / 100;
}
