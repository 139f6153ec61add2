/**
 * The pull-request comment: GitHub-flavoured Markdown, verdict first, then violations, the top
 * statements by database time, findings with their fixes, and plans folded in `<details>`.
 * Pure: returns a string that stays under GitHub's comment limit (65,536 characters).
 */
import { tryParse } from '../analyze/parser.js';
import { renderPlanText } from '../analyze/plan.js';
import type { GatedFinding, LimitCheck, LimitMeasurement } from '../model/budget.js';
import type { Finding } from '../model/finding.js';
import type { QueryReport, Report } from '../model/report.js';
import {
  cancelledCalls,
  everyCallFailed,
  failedCalls,
  fixOptions,
  formatCount,
  formatCountOf,
  formatMs,
  formatPercent,
  formatRunCalls,
  nestedPlace,
  nothingMeasured,
  oneLine,
  summaryRows,
  type FixOption,
} from './format.js';
import {
  describeField,
  describeSpread,
  findingStatusText,
  LIMIT_TITLES,
  matchedByName,
  measurementValues,
  verdictLine,
} from './gate-text.js';

export interface MarkdownOptions {
  /** Statements in the top table (default 10). */
  readonly top?: number;
  /** Plans shown in `<details>` (default 5). */
  readonly plans?: number;
  /** Maximum length of the comment (default 65,000: GitHub rejects comments over 65,536). */
  readonly maxChars?: number;
}

export const MARKDOWN_MAX_CHARS = 65_000;

/** Text safe inside a GFM table cell. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/**
 * Inline code of `text` on one line, exactly as written: a backtick inside gets a longer fence
 * (`` a`b ``), since nothing can be escaped in a code span. Outside tables a backslash would be
 * shown as it is, so nothing is escaped; `cellCode` is the one for table cells.
 */
export function code(text: string): string {
  const flat = text.replace(/\r?\n/g, ' ');
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((m) => m[0].length));
  if (longest === 0) return `\`${flat}\``;
  const fence = '`'.repeat(longest + 1);
  return `${fence} ${flat} ${fence}`;
}

/** Inline code in a table cell: GFM reads `\|` as a pipe there, inside code spans too. */
export function cellCode(text: string): string {
  return code(text.replace(/\|/g, '\\|'));
}

/** Text safe outside tables: no raw HTML, no accidental emphasis from SQL like `a*b`. */
function text(s: string): string {
  return s.replace(/[\\`*_<>[\]]/g, (c) => `\\${c}`);
}

/** Text inside an HTML block (a `<summary>`), where Markdown escapes are not processed. */
function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A fenced block whose fence is longer than any backtick run inside. */
function fenced(body: string, lang = ''): string {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${lang}\n${body}\n${fence}`;
}

/** A finding's fixes, in the order to try them: the first after `Fix`, the others after `Or`. */
function fixOf(f: Finding): string | undefined {
  const fixes = fixOptions(f);
  if (fixes.length === 0) return undefined;
  return fixes.map((fix, n) => fixBlock(fix, n === 0 ? 'Fix' : 'Or')).join('\n\n');
}

/** One fix: a validated index with the plan costs it was judged by, SQL in a fenced block, else text. */
function fixBlock(fix: FixOption, label: string): string {
  if (fix.advice)
    return (
      `${label} (plan cost ${fix.advice.costBefore.toFixed(0)} → ${fix.advice.costAfter.toFixed(0)}, validated with ${fix.advice.method}):\n\n` +
      fenced(fix.text, 'sql') +
      (fix.note ? `\n\n${text(fix.note)}` : '')
    );
  return isSql(fix.text) ? `${label}:\n\n${fenced(fix.text, 'sql')}` : `${label}: ${text(fix.text)}`;
}

/**
 * True when a fix is SQL to run, as PostgreSQL's parser reads it (statements, and comments after
 * them), and not words that start like a statement (`SET LOCAL work_mem = '64MB' for this
 * statement, ...`): only SQL goes in a sql block. Needs the parser loaded (`loadParser()`, as every
 * command that writes a report does); without it, every fix is written as text.
 */
function isSql(fix: string): boolean {
  if (SQL_FIXES.has(fix)) return true;
  // Words that do not even start like a statement need no parser.
  if (!STATEMENT_START.test(fix) || (tryParse(fix)?.stmts?.length ?? 0) === 0) return false;
  // Statements repeat their fixes: parse each SQL text once (bounded, for a long-lived process).
  if (SQL_FIXES.size >= 1000) SQL_FIXES.clear();
  SQL_FIXES.add(fix);
  return true;
}

const SQL_FIXES = new Set<string>();
const STATEMENT_START = /^\s*(CREATE|ALTER|DROP|SELECT|SET|ANALYZE|VACUUM|REINDEX|CLUSTER|WITH)\b/i;

/** Collects blocks and keeps the whole under a character budget, noting what was left out. */
class Sized {
  private readonly parts: string[] = [];
  private length = 0;
  /** Whether something was left out. */
  truncated = false;
  constructor(
    private readonly max: number,
    /** The limit as the reader should see it. */
    private readonly shown: number,
  ) {}
  private fits(size: number): boolean {
    return this.length + size <= this.max;
  }
  /** Adds a block if it fits; returns whether it did. */
  add(block: string): boolean {
    if (!this.fits(block.length + 1)) {
      this.truncated = true;
      return false;
    }
    this.parts.push(block);
    this.length += block.length + 1;
    return true;
  }
  /**
   * Adds a heading and as many items as fit (leaving room for a note of how many were left out).
   * The heading is only added with at least one item.
   */
  section(heading: string, items: readonly string[], what: string): void {
    if (items.length === 0) return;
    const noteRoom = 160;
    const note = (n: number) =>
      `\n_… ${n} more ${what} left out to keep this comment under ${this.shown.toLocaleString('en-US')} characters; see the JSON report._\n`;
    if (!this.fits(heading.length + items[0]!.length + 2 + noteRoom)) {
      this.add(note(items.length));
      return;
    }
    this.add(heading);
    for (let i = 0; i < items.length; i++) {
      if (!this.fits(items[i]!.length + 1 + (i < items.length - 1 ? noteRoom : 0)) || !this.add(items[i]!)) {
        this.truncated = true;
        this.add(note(items.length - i));
        return;
      }
    }
  }
  toString(): string {
    return this.parts.join('\n');
  }
}

/** The report (and its gate verdict, if any) as a pull-request comment. */
export function renderMarkdown(report: Report, options: MarkdownOptions = {}): string {
  const max = options.maxChars ?? MARKDOWN_MAX_CHARS;
  const top = options.top ?? 10;
  const gate = report.gate;
  const footer = `\n<sub>querygate ${report.tool.version} · PostgreSQL ${report.target.serverVersion} · report of ${report.createdAt}</sub>`;
  // The footer always fits: the body gets the rest.
  const out = new Sized(max - footer.length - 2, max);
  // Every finding with its verdict (matched by value: the report may have made a JSON round trip).
  const findings = report.queries.flatMap((q) =>
    q.findings.map((f) => ({
      f,
      q,
      gated: gate?.findings.find((g) => g.fingerprint === q.fingerprint && sameFinding(g.finding, f)),
    })),
  );
  const failing = findings.filter((x) => x.gated?.status === 'failing');
  const others = findings.filter((x) => x.gated?.status !== 'failing');

  const title = !gate
    ? '## querygate report'
    : gate.passed
      ? gate.budget === undefined && gate.failOn !== 'never'
        ? `## ✅ querygate: no finding at or above ${gate.failOn}`
        : '## ✅ querygate: within budget'
      : gate.incomplete !== undefined
        ? '## ❌ querygate: the run was interrupted'
        : gate.budget === undefined && gate.failOn !== 'never'
          ? `## ❌ querygate: findings at or above ${gate.failOn}`
          : '## ❌ querygate: budget exceeded';
  out.add(title);
  const totals = report.totals;
  const summary =
    `workload \`${cell(report.workload.name)}\` · ${formatRunCalls(report.queries)} · ${formatMs(totals.totalMs)} database time` +
    ` · ${formatCountOf(totals.statements, 'statement')}` +
    (report.queries.length > totals.statements
      ? ` (and ${formatCount(report.queries.filter((q) => q.nested).length)} run inside functions, whose time is in their callers')`
      : '');
  out.add(
    gate
      ? `\n**${verdictLine(gate)}**${gate.budget !== undefined ? ` (budget \`${cell(gate.budget)}\`)` : ''}\n\n${summary}`
      : `\n${summary}`,
  );
  if (!report.run.complete)
    out.add(
      `\n> [!WARNING]\n> The run was interrupted (${text(report.run.interruptedBy ?? 'interrupted')}): partial results.`,
    );

  if (gate) {
    const violations = gate.limits.flatMap((check) =>
      check.measurements.filter((m) => !m.passed).map((m) => ({ check, m })),
    );
    const subjectCell = (m: LimitMeasurement) =>
      m.subject.kind === 'statement'
        ? `${cellCode(oneLine(m.subject.query, 120))}${m.subject.source !== undefined ? ` ${cell(m.subject.source)}` : ''}${m.subject.route !== undefined ? ` on ${cell(m.subject.route)}` : ''}`
        : m.subject.kind === 'route'
          ? `route ${cellCode(m.subject.route)}`
          : 'whole run';
    const limitCells = (check: LimitCheck, m: LimitMeasurement) => {
      const spread = describeSpread(check.limit, m);
      const values = measurementValues(check, m);
      return (
        `| ${cellCode(check.field)} ${cell(LIMIT_TITLES[check.limit])}${check.label !== undefined ? ` (${cell(check.label)})` : ''} ` +
        `| **${cell(values.measured)}**${spread ? `<br>${cell(spread)}` : ''} ` +
        `| ${cell(values.limit)}`
      );
    };
    if (violations.length > 0) {
      out.section(
        '\n### Violations\n\n| limit | measured | budget | statement |\n|---|---|---|---|',
        violations.map(({ check, m }) => `${limitCells(check, m)} | ${subjectCell(m)} |`),
        'violations',
      );
    }
    const explained = gate.limits.flatMap((check) =>
      check.measurements.filter((m) => m.notCounted).map((m) => ({ check, m })),
    );
    if (explained.length > 0) {
      out.section(
        '\n### Over a limit, not counted\n\n| limit | measured | budget | not counted because | statement |\n|---|---|---|---|---|',
        explained.map(
          ({ check, m }) => `${limitCells(check, m)} | ${text(m.notCounted!.reason)} | ${subjectCell(m)} |`,
        ),
        'values not counted',
      );
    }
    // Limits written for a statement's old text that gate its new one, passing or not.
    const byName = matchedByName(gate);
    if (byName.length > 0) {
      out.add(
        '\n> [!NOTE]\n' +
          byName
            .map(
              (m) =>
                `> - ${code(m.entry)}${m.label !== undefined ? ` (${text(m.label)})` : ''}` +
                `${gate.budget !== undefined ? ` at ${code(`${gate.budget}${m.line !== undefined ? `:${m.line}` : ''}`)}` : ''}` +
                ` matched by its name: the statement's text changed since fingerprint ${code(m.fingerprint)}`,
            )
            .join('\n'),
      );
    }
    if (failing.length > 0) {
      out.section(
        '\n### Failing findings\n',
        failing.map(({ f, gated, q }) => findingBlock(f, gated, q, report)),
        'failing findings',
      );
    }
    const skipped = gate.limits.filter((l) => l.status === 'skipped');
    if (skipped.length > 0) {
      out.add(
        `\n<details><summary>${skipped.length} limit(s) not measured</summary>\n\n` +
          skipped.map((l) => `- ${code(describeField(l))}: ${text(l.note ?? 'nothing to measure')}`).join('\n') +
          '\n\n</details>',
      );
    }
  }

  const ranked = summaryRows(report.queries, top);
  if (ranked.length > 0) {
    out.section(
      `\n### Top statements by database time\n\n| # | total | share | calls | mean | rows/call | blocks/call | plan cost | statement |\n|--:|--:|--:|--:|--:|--:|--:|--:|---|`,
      ranked.map(({ query: q, index }) => {
        // A statement of which no call completed has nothing measured: say so rather than 0 ms.
        const failed = everyCallFailed(q);
        const measured = (value: string) => (nothingMeasured(q) ? '-' : value);
        const failures = [failedCalls(q), cancelledCalls(q)].filter((n) => n !== '').join('; ');
        return (
          `| ${index + 1} | ${failed ? '**failed**' : measured(formatMs(q.totalMs))} | ${measured(formatPercent(q.dbTimeShare))} | ` +
          `${formatCount(q.calls)} | ${measured(formatMs(q.meanMs))} | ` +
          `${measured(formatCount(q.rowsPerCall))} | ${measured(formatCount(q.sharedBlksPerCall))} | ${q.plan ? q.plan.totalCost.toFixed(0) : '-'} | ` +
          `${q.nested ? `↳ ${cell(nestedPlace(q))}: ` : ''}${cellCode(oneLine(q.query, 140))}${q.source !== undefined ? ` ${cell(q.source)}` : ''}${failures ? ` (${failures})` : ''} |`
        );
      }),
      'statements',
    );
    if (ranked.some((r) => r.query.nested) && !out.truncated)
      out.add(
        "\n↳ ran inside a function or a trigger, under the statement that runs it: its time is part of its caller's, and not counted again in the total.",
      );
    if (report.queries.length > ranked.length && !out.truncated)
      out.add(`\n_${report.queries.length - ranked.length} more statement(s) in the JSON report._`);
  }

  if (others.length > 0) {
    out.section(
      `\n### ${gate ? 'Other findings' : 'Findings'}\n`,
      others.map(({ f, gated, q }) => findingBlock(f, gated, q, report)),
      'findings',
    );
  }

  const planned = report.queries.filter((q) => q.plan).slice(0, options.plans ?? 5);
  if (planned.length > 0) {
    out.section(
      '\n### Plans\n',
      planned.map((q) => {
        const i = report.queries.indexOf(q) + 1;
        return (
          `<details><summary>#${i} ${html(oneLine(q.query, 90))} — cost ${q.plan!.totalCost.toFixed(0)} (${q.plan!.mode} plan)</summary>\n\n` +
          `${fenced(renderPlanText(q.plan!.root))}\n\n</details>\n`
        );
      }),
      'plans',
    );
  }
  if (report.warnings.length > 0) {
    out.section(
      '',
      report.warnings.map((w) => `> [!NOTE]\n> ${text(w)}\n`),
      'warnings',
    );
  }
  return `${out.toString()}\n${footer}\n`;
}

function sameFinding(a: Finding, b: Finding): boolean {
  return a.rule === b.rule && a.messageId === b.messageId && a.message === b.message && a.nodePath === b.nodePath;
}

function findingBlock(f: Finding, gated: GatedFinding | undefined, q: QueryReport, report: Report): string {
  const index = report.queries.indexOf(q) + 1;
  const lines = [
    `- **${f.severity}** \`${f.rule}\`: ${text(f.message)} (statement #${index}${q.source !== undefined ? `, ${text(q.source)}` : ''}` +
      `${q.nested ? `, ${text(nestedPlace(q))}` : ''})`,
  ];
  if (f.caveat !== undefined) lines.push(`  - caveat: ${text(f.caveat)}`);
  if (f.nodePath !== undefined) lines.push(`  - plan node: ${code(f.nodePath)}`);
  if (gated && gated.status !== 'failing') lines.push(`  - ${text(findingStatusText(gated))}`);
  else if (gated?.acceptance?.expired) lines.push(`  - ${text(findingStatusText(gated))}`);
  const fix = fixOf(f);
  if (fix) lines.push(`  - ${fix.replace(/\n/g, '\n    ')}`);
  return lines.join('\n');
}
