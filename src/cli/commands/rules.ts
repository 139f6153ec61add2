/** `querygate rules`: list the rules; `querygate rules <id>`: print a rule's documentation. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { findRule, RULES } from '../../rules/index.js';
import { wrapText } from '../../report/format.js';
import { EXIT, type CliIO } from '../io.js';

/** docs/rules/<id>.md of the installed package (docs/ ships next to dist/). */
export function ruleDocUrl(id: string): URL {
  return new URL(`../../../docs/rules/${id}.md`, import.meta.url);
}

/** The rules as an aligned list: id, default severity, category, description. */
export function renderRuleList(width = 160): string {
  const idWidth = Math.max(...RULES.map((r) => r.id.length));
  const left = idWidth + 2 + 7 + 2 + 10 + 2;
  // A description wraps under itself, so that the columns stay readable at any width.
  const lines = RULES.flatMap((r) =>
    wrapText(
      r.description,
      Math.max(width, left + 30),
      left,
      `${r.id.padEnd(idWidth)}  ${r.severity.padEnd(7)}  ${r.category.padEnd(10)}  `,
    ),
  );
  return [
    `${'rule'.padEnd(idWidth)}  ${'default'.padEnd(7)}  ${'category'.padEnd(10)}  description`,
    ...lines,
    '',
    ...wrapText(
      "querygate rules <id> prints a rule's documentation; set severities and thresholds in querygate.config.yaml (rules:).",
      width,
      0,
      '',
    ),
  ].join('\n');
}

export function registerRules(program: Command, io: CliIO, setExit: (code: number) => void): void {
  program
    .command('rules')
    .description("list the detection rules, or print one rule's documentation")
    .argument('[id]', 'rule id, e.g. seq-scan-large-table')
    .action((id: string | undefined) => {
      if (!id) {
        io.out(renderRuleList(io.columns));
        setExit(EXIT.ok);
        return;
      }
      const rule = findRule(id);
      if (!rule)
        throw new InputError('USAGE', `unknown rule "${id}" (known rules: ${RULES.map((r) => r.id).join(', ')})`);
      let doc: string;
      try {
        doc = readFileSync(ruleDocUrl(rule.id), 'utf8');
      } catch {
        // The package always ships docs/; without it, the metadata still says what the rule does.
        doc = `${rule.description}\n\n(default severity ${rule.severity}; documentation file not found)`;
      }
      io.out(doc.trimEnd());
      const options = Object.entries(rule.defaultOptions);
      if (options.length > 0) {
        io.out(
          `\nDefaults: ${options.map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toFixed(3)) : String(v)}`).join(', ')}`,
        );
      }
      setExit(EXIT.ok);
    });
}
