/**
 * Loads a YAML (or JSON) file and validates it against a committed JSON Schema. Every error names
 * the file, the line and the field, e.g. `shop.yaml:12:9: statements[1].weight: must be >= 0`.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { InputError, type InputErrorCode } from '../errors.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();

/** Reads a committed JSON Schema from `schemas/` (next to `src/` and `dist/`). */
export function loadSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../schemas/${file}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

function validator(schemaFile: string): ValidateFunction {
  let validate = compiled.get(schemaFile);
  if (!validate) {
    validate = ajv.compile(loadSchema(schemaFile));
    compiled.set(schemaFile, validate);
  }
  return validate;
}

/** Reads a file or throws FILE_NOT_FOUND / FILE_UNREADABLE. */
export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new InputError('FILE_NOT_FOUND', `${what} not found: ${path}`);
    if (code === 'EISDIR') throw new InputError('FILE_UNREADABLE', `${what} is a directory, not a file: ${path}`);
    throw new InputError('FILE_UNREADABLE', `cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** `/statements/0/weight` -> `statements[0].weight` */
function fieldName(pointer: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return (
    parts.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '') ||
    '(top level)'
  );
}

function describeError(error: ErrorObject): { pointer: string; message: string } {
  if (error.keyword === 'additionalProperties') {
    const extra = String((error.params as { additionalProperty: string }).additionalProperty);
    return { pointer: `${error.instancePath}/${extra}`, message: 'unknown field' };
  }
  if (error.keyword === 'required') {
    const missing = String((error.params as { missingProperty: string }).missingProperty);
    return { pointer: `${error.instancePath}/${missing}`, message: 'is required' };
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues
      .map((v) => JSON.stringify(v))
      .join(', ');
    return { pointer: error.instancePath, message: `must be one of ${allowed}` };
  }
  return { pointer: error.instancePath, message: error.message ?? 'is invalid' };
}

/**
 * Parses YAML text and validates it. `where` is the file name used in messages.
 * Throws `code` with one line per problem (the first in the message, all in details).
 */
export function parseValidatedYaml<T>(text: string, where: string, schemaFile: string, code: InputErrorCode): T {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const pos = lineCounter.linePos(first.pos[0]);
    throw new InputError(code, `${where}:${pos.line}:${pos.col}: invalid YAML: ${first.message.split('\n')[0]}`);
  }
  const data: unknown = doc.toJS();
  const validate = validator(schemaFile);
  if (validate(data)) return data as T;
  // Report the most specific errors first: anyOf/oneOf produce noise for each branch.
  const errors = (validate.errors ?? []).filter(
    (e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if',
  );
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const error of errors.length ? errors : (validate.errors ?? [])) {
    const { pointer, message } = describeError(error);
    const path = pointer
      .split('/')
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    // Point at the offending key when the value is missing or unknown, else at the value.
    let node = doc.getIn(path, true) as YamlNode | undefined;
    if (!node || message === 'unknown field') node = findKeyNode(doc.contents as YamlNode, path) ?? node;
    while (!node && path.length > 0) {
      path.pop();
      node = doc.getIn(path, true) as YamlNode | undefined;
    }
    const offset = node?.range?.[0] ?? 0;
    const pos = lineCounter.linePos(offset);
    const line = `${where}:${pos.line}:${pos.col}: ${fieldName(pointer)}: ${message}`;
    if (!seen.has(line)) {
      seen.add(line);
      lines.push(line);
    }
  }
  throw new InputError(code, lines[0] ?? `${where}: invalid`, lines.slice(1));
}

function findKeyNode(root: YamlNode | undefined, path: readonly (string | number)[]): YamlNode | undefined {
  let node: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === part);
      if (!pair) return undefined;
      if (i === path.length - 1) return pair.key as YamlNode;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part];
    } else return undefined;
  }
  return node as YamlNode;
}

/** Parses a duration: a number of seconds, or a string like `500ms`, `10s`, `2m`. */
export function parseDuration(value: string | number, field: string): number {
  if (typeof value === 'number') return value * 1000;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
  if (!match) throw new InputError('USAGE', `${field}: invalid duration "${value}" (use e.g. 500ms, 10s, 2m)`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000;
}

/**
 * Maps a field path of a YAML text to `where:line:column`, for problems found after validation
 * (a parameter count, a statement kind). A path that does not exist points at its nearest parent.
 */
export function yamlLocator(text: string, where: string): (path: readonly (string | number)[]) => string {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  return (path) => {
    const parts = [...path];
    let node = doc.getIn(parts, true) as YamlNode | undefined;
    while (!node && parts.length > 0) {
      parts.pop();
      node = doc.getIn(parts, true) as YamlNode | undefined;
    }
    const pos = lineCounter.linePos(node?.range?.[0] ?? 0);
    return `${where}:${pos.line}:${pos.col}`;
  };
}
