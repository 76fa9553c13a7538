import type { GradebookLineItem } from '../gradebook/types.js';
import { parseLabelPattern } from './label-pattern.js';
import { selectorKind, type Selector } from './schema.js';

export interface CompiledSelector {
  matches: (item: GradebookLineItem) => boolean;
  /** For reasons: describeReason turns these into e.g. tag "quiz". */
  params: { selectorKind: string; selectorValue: string };
}

export function compileSelector(selector: Selector): CompiledSelector {
  const kind = selectorKind(selector);
  const value = selector[kind] ?? '';
  const params = { selectorKind: kind, selectorValue: value };
  switch (kind) {
    case 'lineItemId':
      return { params, matches: (item) => item.id === value };
    case 'resourceLinkId':
      return { params, matches: (item) => item.resourceLinkId === value };
    case 'resourceId':
      return { params, matches: (item) => item.resourceId === value };
    case 'tag':
      return { params, matches: (item) => item.tag === value };
    case 'labelPattern': {
      const pattern = parseLabelPattern(value);
      return { params, matches: pattern.ok ? (item) => pattern.matches(item.label) : () => false };
    }
  }
}

const SELECTOR_NAMES = {
  lineItemId: 'line item id',
  resourceLinkId: 'resource link id',
  resourceId: 'resource id',
  tag: 'tag',
  labelPattern: 'label pattern',
} as const;

/** English, for API validation errors. */
export function describeSelector(selector: Selector): string {
  const kind = selectorKind(selector);
  return `${SELECTOR_NAMES[kind]} ${JSON.stringify(selector[kind] ?? '')}`;
}
