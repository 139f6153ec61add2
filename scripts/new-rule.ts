/**
 * Scaffolds a detection rule: the rule, its table-driven test, a fixture scenario, its doc, and its
 * line in the registry (at the `querygate:rules-*` markers), then updates the config schema.
 *
 *   npm run new-rule -- <rule-id> [--severity error|warning|info] [--category <category>] [--description "..."]
 *   npm run new-rule -- --sync-schema     # after changing a rule's options
 *
 * Then: write the scenario's cases, `npm run fixtures:plans -- <rule-id>`, implement `check`, fill
 * in the test's expectations and the doc, and run `npx vitest run test/rules`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CATEGORIES = ['scan', 'predicate', 'memory', 'estimate', 'join', 'pagination', 'volume', 'time', 'pattern'];
const SEVERITIES = ['error', 'warning', 'info'];

function fail(message: string): never {
  console.error(`new-rule: ${message}`);
  process.exit(2);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) fail(`${name} needs a value`);
  args.splice(i, 2);
  return value;
}

/** Rewrites the `rules` definition of schemas/config.schema.json from the registry. */
async function syncSchema(): Promise<void> {
  const { rulesJsonSchema } = await import('../src/config/config.js');
  const path = join(ROOT, 'schemas', 'config.schema.json');
  const schema = JSON.parse(readFileSync(path, 'utf8')) as { definitions: Record<string, unknown> };
  schema.definitions.rules = rulesJsonSchema();
  // Formatted like every other file (prettier, the repository's config).
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(path)) ?? {};
  writeFileSync(path, await prettier.format(JSON.stringify(schema), { ...options, filepath: path }));
  console.log('updated schemas/config.schema.json');
}

function write(relative: string, content: string): void {
  const path = join(ROOT, relative);
  if (existsSync(path)) fail(`${relative} exists already`);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  console.log(`created ${relative}`);
}

const camel = (id: string) => id.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--sync-schema')) return syncSchema();
  const severity = flag(args, '--severity') ?? 'warning';
  const category = flag(args, '--category') ?? 'pattern';
  const description = flag(args, '--description') ?? 'TODO: one sentence, the first line of the doc.';
  const id = args[0];
  if (!id || args.length > 1)
    fail('usage: npm run new-rule -- <rule-id> [--severity warning] [--category scan] [--description "..."]');
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(id)) fail(`rule ids are kebab-case: "${id}"`);
  if (!SEVERITIES.includes(severity)) fail(`--severity must be one of ${SEVERITIES.join(', ')}`);
  if (!CATEGORIES.includes(category)) fail(`--category must be one of ${CATEGORIES.join(', ')}`);
  if (description.includes("'") || description.includes('\n')) fail('--description: one line, without single quotes');

  const registryPath = join(ROOT, 'src', 'rules', 'index.ts');
  const registry = readFileSync(registryPath, 'utf8');
  if (!registry.includes('// querygate:rules-imports') || !registry.includes('// querygate:rules-registry')) {
    fail('src/rules/index.ts lost its querygate:rules-* marker comments');
  }

  write(
    `src/rules/${id}.ts`,
    `/** ${id}: TODO what it flags, and why that costs. */
import { defineRule } from './define.js';

export default defineRule({
  id: '${id}',
  severity: '${severity}',
  category: '${category}',
  description: '${description}',
  messages: {
    found: 'TODO: what is wrong, with the numbers that show it: {value}',
  },
  defaultOptions: {
    /** TODO: the threshold from which the rule reports. */
    threshold: 1,
  },
  check({ query, nodes, options }) {
    // Pure: read the statement's statistics (query), plan (nodes), parse tree (tree) and relations
    // (relationOf); return findings with a messageId, evidence and a suggestion.
    void query;
    void nodes;
    void options;
    return [];
  },
});
`,
  );
  write(
    `test/rules/${id}.test.ts`,
    `import rule from '../../src/rules/${id}.js';
import { ruleCases } from './harness.js';

ruleCases(rule, [
  { fixture: 'cases', statement: 'bad: TODO', expect: [{ messageId: 'found', severity: '${severity}' }] },
  { fixture: 'cases', statement: 'ok: TODO', expect: [] },
]);
`,
  );
  write(
    `fixtures/plans/${id}/setup.sql`,
    `-- TODO: the smallest data that shows the problem (thousands of rows; prefer planner settings and
-- statistics over large tables).
CREATE TABLE things (id bigint PRIMARY KEY, value integer NOT NULL);
INSERT INTO things SELECT g, g % 100 FROM generate_series(1, 10000) AS g;
`,
  );
  write(
    `fixtures/plans/${id}/cases.yaml`,
    `# ${id}: statements the rule must report ("bad: ...") and must not ("ok: ..."). Captured with
# npm run fixtures:plans -- ${id}   (name a copy cases.analyze.yaml to capture with EXPLAIN ANALYZE)
name: ${id}
setup:
  schema: setup.sql
load:
  connections: 1
  repeat: 2
  rounds: 1
statements:
  - name: "bad: TODO"
    sql: SELECT count(*) FROM things WHERE value = 7
  - name: "ok: TODO"
    sql: SELECT value FROM things WHERE id = 7
`,
  );
  write(
    `docs/rules/${id}.md`,
    `${description}

# \`${id}\`

Default severity **${severity}** · category \`${category}\`

## Problem

TODO: what the rule detects, why it is expensive, and when it is not reported.

## Evidence

TODO: the evidence fields of the finding, and an example message.

## Fix

TODO: what to do about it, SQL where possible.

## Options

| option | default | meaning |
|---|---|---|
| \`threshold\` | \`1\` | TODO |
`,
  );
  const variable = camel(id);
  writeFileSync(
    registryPath,
    registry
      .replace('// querygate:rules-imports', `import ${variable} from './${id}.js';\n// querygate:rules-imports`)
      .replace('  // querygate:rules-registry', `  ${variable},\n  // querygate:rules-registry`),
  );
  console.log('registered it in src/rules/index.ts');
  await syncSchema();
  console.log(
    `next: fill fixtures/plans/${id}/cases.yaml, npm run fixtures:plans -- ${id}, implement check, npx vitest run test/rules`,
  );
}

await main();
