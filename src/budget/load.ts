/**
 * Budget files: found by walking up from the working directory, validated against
 * schemas/budget.schema.json, then checked for what a schema cannot say (regular expressions,
 * dates, known rule ids). Every error names file:line:col and the field.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { resolveRules } from '../config/config.js';
import { parseValidatedYaml, readTextFile } from '../config/yaml.js';
import { InputError, isQuerygateError } from '../errors.js';
import type { AnyRule } from '../rules/define.js';
import { RULES } from '../rules/index.js';
import type { Budget } from '../model/budget.js';

/** The file name `run` and `check` look for. */
export const BUDGET_FILE_NAME = 'querygate.budget.yaml';

/** The nearest `querygate.budget.yaml` in `startDir` or one of its parents, if any. */
export function findBudgetFile(startDir: string): string | undefined {
  let dir = resolve(startDir);
  for (;;) {
    const candidate = join(dir, BUDGET_FILE_NAME);
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export interface BudgetLoadOptions {
  /** The rules that ids in `rules:` and `accepted:` must name (default: the registry). */
  readonly registry?: readonly AnyRule[];
}

type RawBudget = Omit<Budget, 'source' | 'lines' | 'limits' | 'statements' | 'rules' | 'accepted'> & Partial<Budget>;

/** Reads and validates a budget file. */
export function loadBudget(path: string, options: BudgetLoadOptions = {}): Budget {
  // Messages, annotations and pull-request comments name the file relative to where querygate runs
  // (the repository, in CI), not by a path of the machine.
  const shown = isAbsolute(path) ? relative(process.cwd(), path) || path : path;
  return parseBudget(readTextFile(path, 'budget file'), shown, options);
}

/** Parses and validates budget text; `where` names the file in messages. */
export function parseBudget(text: string, where: string, options: BudgetLoadOptions = {}): Budget {
  // A file with nothing but comments is an empty budget (findings are still gated).
  const empty = parseDocument(text).contents === null;
  const raw = empty
    ? {}
    : (parseValidatedYaml<RawBudget | null>(text, where, 'budget.schema.json', 'BUDGET_INVALID') ?? {});
  const positions = fieldPositions(text);
  const place = (field: string) => {
    const pos = positions.get(field) ?? nearest(positions, field);
    return `${where}:${pos?.line ?? 1}:${pos?.col ?? 1}`;
  };
  const at = (field: string) => `${place(field)}: ${field}`;
  const problems: string[] = [];

  const statements = raw.statements ?? [];
  statements.forEach((s, i) => {
    if (s.pattern === undefined) return;
    try {
      new RegExp(s.pattern, 'i');
    } catch (error) {
      problems.push(`${at(`statements[${i}].pattern`)}: not a valid regular expression: ${(error as Error).message}`);
    }
  });
  const accepted = raw.accepted ?? [];
  accepted.forEach((a, i) => {
    if (a.fingerprint === undefined && a.relation === undefined) {
      problems.push(`${at(`accepted[${i}]`)}: give a fingerprint or a relation (or both) for the accepted finding`);
    }
    if (a.expires !== undefined && !isCalendarDate(a.expires)) {
      problems.push(`${at(`accepted[${i}].expires`)}: not a calendar date (use YYYY-MM-DD)`);
    }
  });
  const registry = options.registry ?? RULES;
  const known = new Set(registry.map((r) => r.id));
  const list = [...known].sort().join(', ');
  for (const [id, setting] of Object.entries(raw.rules ?? {})) {
    if (!known.has(id)) {
      problems.push(`${at(`rules.${id}`)}: unknown rule "${id}" (known rules: ${list})`);
      continue;
    }
    // The config file's rules: shape and checks, with this file's line in the message.
    try {
      resolveRules({ [id]: setting }, { where: place(`rules.${id}`), code: 'BUDGET_INVALID', registry });
    } catch (error) {
      if (!isQuerygateError(error)) throw error;
      problems.push(error.message);
    }
  }
  accepted.forEach((a, i) => {
    if (!known.has(a.rule))
      problems.push(`${at(`accepted[${i}].rule`)}: unknown rule "${a.rule}" (known rules: ${list})`);
  });
  if (problems.length > 0) throw new InputError('BUDGET_INVALID', problems[0]!, problems.slice(1));

  const lines: Record<string, number> = {};
  for (const [field, pos] of positions) lines[field] = pos.line;
  return {
    source: where,
    limits: raw.limits ?? {},
    statements,
    rules: raw.rules ?? {},
    accepted,
    ...(raw.compare ? { compare: raw.compare } : {}),
    lines,
  };
}

function isCalendarDate(text: string): boolean {
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

interface Position {
  readonly line: number;
  readonly col: number;
}

/** Position of every key (and sequence item) in the document, keyed like `statements[0].maxMeanMs`. */
function fieldPositions(text: string): Map<string, Position> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const out = new Map<string, Position>();
  const visit = (node: unknown, field: string) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = pair.key as YamlNode | null;
        if (!isScalar(key)) continue;
        const name = field ? `${field}.${String(key.value)}` : String(key.value);
        if (key.range) out.set(name, lineCounter.linePos(key.range[0]));
        visit(pair.value, name);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const name = `${field}[${i}]`;
        const range = (item as YamlNode | null)?.range;
        if (range) out.set(name, lineCounter.linePos(range[0]));
        visit(item, name);
      });
    }
  };
  visit(doc.contents, '');
  return out;
}

/** The position of the closest enclosing field that has one. */
function nearest(positions: ReadonlyMap<string, Position>, field: string): Position | undefined {
  let f = field;
  while (f) {
    const pos = positions.get(f);
    if (pos) return pos;
    const parent = f.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
    if (parent === f) return undefined;
    f = parent;
  }
  return undefined;
}
