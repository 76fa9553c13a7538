import type { GradebookLineItem } from '../gradebook/types.js';
import { jsonPointer, type Criteria, type CriteriaError, type CriteriaNode, type Selector } from './schema.js';
import { compileSelector, describeSelector } from './selector.js';

export interface KnownCredentials {
  /** Credential definitions of the same issuer that a prerequisite may name. */
  credentialIds: string[];
  /** The definition these criteria belong to, when it already exists. */
  definitionId?: string;
  /** Each definition's prerequisites (from its criteria), for finding cycles. */
  prerequisiteGraph?: Record<string, string[]>;
}

type Path = Array<string | number>;

function walk(node: CriteriaNode, path: Path, visit: (node: CriteriaNode, path: Path) => void): void {
  visit(node, path);
  if ('children' in node) node.children.forEach((child, i) => walk(child, [...path, 'children', i], visit));
}

/** The credential ids the tree's prerequisite nodes name, each once, in tree order. */
export function prerequisitesOf(criteria: Criteria): string[] {
  const ids = new Set<string>();
  walk(criteria, [], (node) => {
    if (node.type === 'prerequisite') ids.add(node.credentialId);
  });
  return [...ids];
}

/** The chain from `from` through the graph back to `to`, e.g. [A, B, A], if there is one. */
function chainBack(to: string, from: string, graph: Record<string, string[]>): string[] | undefined {
  const cameFrom = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  for (let at = queue.shift(); at !== undefined; at = queue.shift()) {
    if (at === to) {
      const chain: string[] = [];
      for (let step: string | null | undefined = at; step != null; step = cameFrom.get(step)) chain.unshift(step);
      return [to, ...chain];
    }
    for (const next of Object.hasOwn(graph, at) ? graph[at] ?? [] : []) {
      if (!cameFrom.has(next)) {
        cameFrom.set(next, at);
        queue.push(next);
      }
    }
  }
  return undefined;
}

/**
 * Checks a schema-valid tree against the course it is for: every selector must match a line item
 * of the gradebook, every prerequisite must be a known credential, and prerequisites must not lead
 * back to the definition itself.
 */
export function validateAgainstGradebook(criteria: Criteria, lineItems: GradebookLineItem[], known: KnownCredentials): CriteriaError[] {
  const errors: CriteriaError[] = [];
  const credentials = new Set(known.credentialIds);
  const graph = known.prerequisiteGraph ?? {};
  const checkSelector = (selector: Selector, path: Path): void => {
    const { matches } = compileSelector(selector);
    if (!lineItems.some(matches)) {
      errors.push({ path: jsonPointer(path), message: `references a missing line item: no gradebook column matches ${describeSelector(selector)}` });
    }
  };
  walk(criteria, [], (node, path) => {
    switch (node.type) {
      case 'score':
      case 'completion':
      case 'totalPoints':
        checkSelector(node.select, [...path, 'select']);
        break;
      case 'weightedAverage':
        node.items.forEach((item, i) => checkSelector(item.select, [...path, 'items', i, 'select']));
        break;
      case 'prerequisite': {
        const pointer = jsonPointer([...path, 'credentialId']);
        const cycle = known.definitionId === undefined ? undefined : chainBack(known.definitionId, node.credentialId, graph);
        if (cycle) errors.push({ path: pointer, message: `prerequisite cycle: ${cycle.join(' → ')}` });
        else if (!credentials.has(node.credentialId)) errors.push({ path: pointer, message: `unknown prerequisite credential "${node.credentialId}"` });
        break;
      }
      default:
        break;
    }
  });
  return errors;
}
