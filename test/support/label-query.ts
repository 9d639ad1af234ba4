/**
 * Evaluates a `labelSelector` query string as the API server does (apimachinery `labels.Parse`, the subset daemonless
 * writes: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by commas), for the fake cluster's lists and
 * for checking the queries the core writes. Test support only: production code never parses a query.
 */
import { requirementMatches, type Labels, type LabelRequirement } from '../../src/core/label-selector.ts';

function parseTerm(term: string): LabelRequirement {
  let m: RegExpMatchArray | null;
  if ((m = term.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/))) return { key: m[1]!, operator: m[2] === 'in' ? 'In' : 'NotIn', values: m[3]!.split(',') };
  if ((m = term.match(/^([^\s!=(),]+)!=(.*)$/))) return { key: m[1]!, operator: 'NotIn', values: [m[2]!] };
  if ((m = term.match(/^([^\s!=(),]+)==?(.*)$/))) return { key: m[1]!, operator: 'In', values: [m[2]!] };
  if ((m = term.match(/^!([^\s!=(),]+)$/))) return { key: m[1]!, operator: 'DoesNotExist' };
  if ((m = term.match(/^([^\s!=(),]+)$/))) return { key: m[1]!, operator: 'Exists' };
  throw new Error(`unparsable label query term ${JSON.stringify(term)}`);
}

/** The query's requirements (commas inside parentheses belong to a value list). */
export function parseLabelQuery(query: string): LabelRequirement[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < query.length; i++) {
    if (query[i] === '(') depth++;
    else if (query[i] === ')') depth--;
    else if (query[i] === ',' && depth === 0) {
      terms.push(query.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(query.slice(start));
  return terms.map((t) => parseTerm(t.trim()));
}

/** Whether labels satisfy a query; an absent or empty query selects everything. */
export function matchesLabelQuery(query: string | undefined, labels: Labels): boolean {
  if (query === undefined || query === '') return true;
  return parseLabelQuery(query).every((req) => requirementMatches(req, labels));
}
