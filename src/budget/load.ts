/**
 * Budget files: found by walking up from the working directory, validated against
 * schemas/budget.schema.json, then checked for what a schema cannot say (regular expressions,
 * dates, known rule ids). Every error names file:line:col and the field.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { resolveRules, type RulesConfig } from '../config/config.js';
import { findUp } from '../config/find-up.js';
import { readTextFile, validateYaml } from '../config/yaml.js';
import { InputError, isQuerygateError } from '../errors.js';
import type { AnyRule } from '../rules/define.js';
import { RULES } from '../rules/index.js';
import type { Budget } from '../model/budget.js';

/** The file name `run` and `check` look for. */
export const BUDGET_FILE_NAME = 'querygate.budget.yaml';

/** The nearest `querygate.budget.yaml` in `startDir` or one of its parents, if any. */
export function findBudgetFile(startDir: string): string | undefined {
  return findUp(startDir, [BUDGET_FILE_NAME], (path) => existsSync(path) && statSync(path).isFile());
}

export interface BudgetLoadOptions {
  /** The rules that ids in `rules:` and `accepted:` must name (default: the registry). */
  readonly registry?: readonly AnyRule[];
}

type RawBudget = Omit<Budget, 'source' | 'lines' | 'limits' | 'statements' | 'rules' | 'accepted' | 'routes'> &
  Partial<Budget>;

/** Reads and validates a budget file. */
export function loadBudget(path: string, options: BudgetLoadOptions = {}): Budget {
  // Messages, annotations and pull-request comments name the file relative to where querygate runs
  // (the repository, in CI), not by a path of the machine.
  const shown = isAbsolute(path) ? relative(process.cwd(), path) || path : path;
  return parseBudget(readTextFile(path, 'budget file'), shown, options);
}

/** Problems listed for one file: enough to fix a batch at a time, not a wall of text. */
export const MAX_BUDGET_PROBLEMS = 20;

/** The only budget format version this querygate reads. */
export const BUDGET_VERSION = 1;

interface Problem {
  readonly field: string;
  readonly line: number;
  readonly col: number;
  readonly text: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses and validates budget text; `where` names the file in messages. Every problem is reported
 * at once (schema and the checks a schema cannot express, in file order, up to
 * MAX_BUDGET_PROBLEMS): the first in the message, the others in `details`.
 */
export function parseBudget(text: string, where: string, options: BudgetLoadOptions = {}): Budget {
  // An empty budget gates nothing: almost always a file that was truncated or never filled in.
  const doc = parseDocument(text);
  if (doc.errors.length === 0 && (doc.contents === null || doc.toJS() == null)) {
    throw new InputError(
      'BUDGET_INVALID',
      `${where}: the budget file is empty: start it with "version: ${BUDGET_VERSION}" and add limits (querygate budget init report.json writes a starting budget)`,
    );
  }
  const { data, problems: schemaProblems } = validateYaml(text, where, 'budget.schema.json', 'BUDGET_INVALID');
  const positions = fieldPositions(text);
  const position = (field: string) => positions.get(field) ?? nearest(positions, field) ?? { line: 1, col: 1 };
  const place = (field: string) => {
    const pos = position(field);
    return `${where}:${pos.line}:${pos.col}`;
  };
  const problems: Problem[] = schemaProblems.map((p) => ({
    ...p,
    text: p.field === 'version' ? `${where}:${p.line}:${p.col}: ${versionProblem(p.message, data)}` : p.text,
  }));
  const schemaFields = new Set(problems.map((p) => p.field));
  // The checks below read sections the schema may have rejected: they look only at well-formed parts,
  // and a field the schema already named is not named twice.
  const add = (field: string, message: string) => {
    if (schemaFields.has(field)) return;
    const pos = position(field);
    problems.push({ field, line: pos.line, col: pos.col, text: message });
  };
  const at = (field: string) => `${place(field)}: ${field}`;
  const raw = (isObject(data) ? data : {}) as Partial<Record<keyof RawBudget, unknown>>;

  const statements = Array.isArray(raw.statements) ? (raw.statements as unknown[]) : [];
  statements.forEach((s, i) => {
    if (!isObject(s) || typeof s.pattern !== 'string') return;
    try {
      new RegExp(s.pattern, 'i');
    } catch (error) {
      const field = `statements[${i}].pattern`;
      add(field, `${at(field)}: not a valid regular expression: ${(error as Error).message}`);
    }
  });
  const accepted = Array.isArray(raw.accepted) ? (raw.accepted as unknown[]) : [];
  accepted.forEach((a, i) => {
    if (!isObject(a)) return;
    if (a.fingerprint === undefined && a.relation === undefined) {
      add(
        `accepted[${i}]`,
        `${at(`accepted[${i}]`)}: give a fingerprint or a relation (or both) for the accepted finding`,
      );
    }
    if (typeof a.expires === 'string' && !isCalendarDate(a.expires)) {
      const field = `accepted[${i}].expires`;
      add(field, `${at(field)}: not a calendar date (use YYYY-MM-DD)`);
    }
  });
  const registry = options.registry ?? RULES;
  const known = new Set(registry.map((r) => r.id));
  const list = [...known].sort().join(', ');
  for (const [id, setting] of Object.entries(isObject(raw.rules) ? raw.rules : {})) {
    if (!known.has(id)) {
      add(`rules.${id}`, `${at(`rules.${id}`)}: unknown rule "${id}" (known rules: ${list})`);
      continue;
    }
    // The config file's rules: checks, one option at a time so that every bad option is named, with
    // this file's line in the message.
    const parts: [string, unknown][] = isObject(setting)
      ? Object.entries(setting).map(([key, value]) => [`rules.${id}.${key}`, { [key]: value }])
      : [[`rules.${id}`, setting]];
    for (const [field, part] of parts) {
      try {
        resolveRules({ [id]: part } as RulesConfig, { where: place(field), code: 'BUDGET_INVALID', registry });
      } catch (error) {
        if (!isQuerygateError(error)) throw error;
        add(field, error.message);
      }
    }
  }
  accepted.forEach((a, i) => {
    if (isObject(a) && typeof a.rule === 'string' && !known.has(a.rule)) {
      const field = `accepted[${i}].rule`;
      add(field, `${at(field)}: unknown rule "${a.rule}" (known rules: ${list})`);
    }
  });
  // YAML reads 1e999 and .inf as Infinity, which the schema's minimums let through: a limit nothing
  // can exceed gates nothing.
  for (const [field, value] of numbersIn(raw, '')) {
    if (!Number.isFinite(value)) add(field, `${at(field)}: must be a finite number, got ${String(value)}`);
  }
  if (problems.length > 0) {
    const sorted = [...problems].sort((x, y) => x.line - y.line || x.col - y.col);
    const lines = [...new Set(sorted.map((p) => p.text))];
    const shown = lines.slice(0, MAX_BUDGET_PROBLEMS);
    if (lines.length > shown.length) shown.push(`${where}: … and ${lines.length - shown.length} more problem(s)`);
    throw new InputError('BUDGET_INVALID', shown[0]!, shown.slice(1));
  }

  const budget = data as RawBudget;
  const sections = [budget.limits, budget.statements, budget.routes, budget.rules, budget.accepted, budget.compare];
  if (sections.every((section) => section === undefined || section === null || Object.keys(section).length === 0)) {
    // As an empty file: "Gate PASSED: 0 of 0 limit(s)" would pass anything.
    throw new InputError(
      'BUDGET_INVALID',
      `${where}: the budget sets no limit: add limits, statements, rules, routes or accepted findings (querygate budget init report.json writes a starting budget)`,
    );
  }
  const lines: Record<string, number> = {};
  for (const [field, pos] of positions) lines[field] = pos.line;
  return {
    source: where,
    limits: budget.limits ?? {},
    statements: budget.statements ?? [],
    ...(budget.routes && budget.routes.length > 0 ? { routes: budget.routes } : {}),
    rules: budget.rules ?? {},
    accepted: budget.accepted ?? [],
    ...(budget.compare ? { compare: budget.compare } : {}),
    lines,
  };
}

/** Every number in `value` with its field path, as positions are keyed (`limits.x`, `statements[0].y`). */
function numbersIn(value: unknown, path: string): [string, number][] {
  if (typeof value === 'number') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => numbersIn(v, `${path}[${i}]`));
  if (isObject(value)) {
    return Object.entries(value).flatMap(([k, v]) => numbersIn(v, path ? `${path}.${k}` : k));
  }
  return [];
}

/** `version:` problems say what to write, and what was found. */
function versionProblem(message: string, data: unknown): string {
  if (message === 'is required')
    return `version: is required: start the file with "version: ${BUDGET_VERSION}" (the budget format version)`;
  const found = isObject(data) ? JSON.stringify(data.version) : 'nothing';
  return `version: must be ${BUDGET_VERSION}, the only budget format version this querygate reads (found ${found})`;
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
