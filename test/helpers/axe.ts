import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }

/** axe-core's serious and critical findings on the page as it is now (injected over DevTools, so the page's CSP stays on). */
export async function seriousViolations(page: Page): Promise<Array<{ id: string; help: string; targets: string[] }>> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => (await (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe.run()).violations);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, help: v.help, targets: v.nodes.flatMap((n) => n.target) }));
}
