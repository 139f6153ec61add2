/**
 * Every registered rule has its file (named by its id), its test, its fixtures and its doc, whose
 * first line is the rule's description; the config schema lists every rule with its options. Docs
 * and schema cannot drift from the code.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rulesJsonSchema } from '../../src/config/config.js';
import type { AnyRule } from '../../src/rules/define.js';
import { RULES } from '../../src/rules/index.js';

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const NOT_RULES = new Set(['define.ts', 'index.ts']);

describe('the rule registry', () => {
  it('holds unique kebab-case ids, and every file in src/rules/ is registered', () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
    const files = readdirSync(root('src/rules')).filter((f) => f.endsWith('.ts') && !NOT_RULES.has(f));
    expect(files.map((f) => f.slice(0, -3)).sort()).toEqual([...ids].sort());
    const registry = readFileSync(root('src/rules/index.ts'), 'utf8');
    expect(registry).toContain('// querygate:rules-registry');
    expect(registry).toContain('// querygate:rules-imports');
  });

  it('lists every rule with its options in schemas/config.schema.json', () => {
    const schema = JSON.parse(readFileSync(root('schemas/config.schema.json'), 'utf8')) as {
      definitions: { rules: unknown };
    };
    expect(schema.definitions.rules, "run `npm run new-rule -- --sync-schema` after changing a rule's options").toEqual(
      rulesJsonSchema(),
    );
  });
});

describe.each(RULES.map((rule) => [rule.id, rule] as [string, AnyRule]))('rule %s', (id, rule) => {
  it('lives in src/rules/<id>.ts as its default export', async () => {
    const module = (await import(`../../src/rules/${id}.ts`)) as { default: AnyRule };
    expect(module.default).toBe(rule);
  });

  it('has metadata: severity, category, a one-line description, messages, options', () => {
    expect(['error', 'warning', 'info']).toContain(rule.severity);
    expect(rule.category).toBeTruthy();
    expect(rule.description).not.toContain('\n');
    expect(rule.description).toMatch(/\.$/);
    expect(Object.keys(rule.messages).length).toBeGreaterThan(0);
    for (const value of Object.values(rule.defaultOptions))
      expect(['number', 'string', 'boolean']).toContain(typeof value);
  });

  it('has a table-driven test on its fixtures', () => {
    const path = root(`test/rules/${id}.test.ts`);
    expect(existsSync(path), `test/rules/${id}.test.ts`).toBe(true);
    const source = readFileSync(path, 'utf8');
    expect(source).toContain(`src/rules/${id}.js`);
    expect(source).toContain('ruleCases(');
  });

  it('has captured fixtures: every scenario in fixtures/plans/<id>/ with its capture', () => {
    const dir = root(`fixtures/plans/${id}`);
    expect(existsSync(dir), `fixtures/plans/${id}/`).toBe(true);
    const files = readdirSync(dir);
    const scenarios = files.filter((f) => /\.ya?ml$/.test(f)).map((f) => f.replace(/\.ya?ml$/, ''));
    const captures = files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    expect(scenarios.length).toBeGreaterThan(0);
    expect(captures.sort(), 'run `npm run fixtures:plans` after changing a scenario').toEqual(scenarios.sort());
  });

  it('has docs/rules/<id>.md starting with its description, with problem, evidence, fix and options', () => {
    const path = root(`docs/rules/${id}.md`);
    expect(existsSync(path), `docs/rules/${id}.md`).toBe(true);
    const doc = readFileSync(path, 'utf8');
    expect(doc.split('\n')[0]).toBe(rule.description);
    for (const section of ['## Problem', '## Evidence', '## Fix', '## Options']) expect(doc).toContain(section);
    const options = doc.slice(doc.indexOf('## Options'));
    for (const [name, value] of Object.entries(rule.defaultOptions)) {
      expect(options, `option ${name} documented`).toContain(`\`${name}\``);
      const shown = typeof value === 'number' ? String(Number(value.toFixed(3))) : String(value);
      expect(options, `default of ${name} documented`).toContain(`\`${shown}\``);
    }
    expect(doc).toContain(`Default severity **${rule.severity}**`);
  });
});

it('documents no rule that is not registered', () => {
  const docs = readdirSync(root('docs/rules'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => f.slice(0, -3));
  expect(docs.sort()).toEqual(RULES.map((r) => r.id).sort());
});
