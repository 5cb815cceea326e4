import type { core } from 'zod';

// One way to put the first zod issue into words, for config files ("field") and function params
// ("parameter") alike.

type IssueText = { readonly where: string; readonly problem: string };

function fieldPath(path: readonly PropertyKey[], top: string): string {
  if (path.length === 0) return top;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

export function describeIssue(issue: core.$ZodIssue | undefined, noun: 'field' | 'parameter'): IssueText {
  const top = noun === 'field' ? '(top level)' : '(params)';
  if (issue === undefined) return { where: top, problem: 'is invalid' };
  const keys = (k: readonly string[]): string => (noun === 'field' ? k.map((x) => JSON.stringify(x)) : k).join(', ');
  const problem = issue.code === 'unrecognized_keys' ? `unknown ${noun} ${keys(issue.keys)}` : issue.message;
  return { where: fieldPath(issue.path, top), problem };
}

/**
 * A function's params problem as one sentence: "n is required (a number)", "n must be a whole
 * number", else "n: <zod's words>".
 */
export function paramsProblem(issue: core.$ZodIssue | undefined): string {
  const { where, problem } = describeIssue(issue, 'parameter');
  if (issue?.code === 'invalid_type') {
    if (issue.expected === 'int') return `${where} must be a whole number`;
    // zod 4 keeps no input in its issues: its message says what was received.
    if (issue.message.endsWith('received undefined')) return `${where} is required (${article(issue.expected)} ${issue.expected})`;
  }
  return `${where}: ${problem}`;
}

const article = (noun: string): string => (/^[aeiou]/.test(noun) ? 'an' : 'a');
