/** The terminal summary: statements ranked by database time, then findings. Pure: returns a string. */
import { basename } from 'node:path';
import Table from 'cli-table3';
import { costliestNode, nodeLabel } from '../analyze/plan.js';
import type { Report } from '../model/report.js';
import { renderRoutesTable } from './routes.js';
import { fitColumns, layoutWidth, leftOutNote, type Column } from './columns.js';
import {
  cancelledCalls,
  everyCallFailed,
  failedCalls,
  fixOptions,
  formatCount,
  formatMs,
  formatPercent,
  formatRunCalls,
  nestedPlace,
  nothingMeasured,
  oneLine,
  summaryRows,
  type FixOption,
  wrapText,
} from './format.js';

export interface TableOptions {
  /** Rows in the statements table. */
  readonly top?: number;
  /** ANSI colour in table borders and headings. */
  readonly color?: boolean;
  /** Terminal width: sizes the statement column; a narrow terminal leaves out the least needed columns. */
  readonly width?: number;
}

/** The label of the plan's most expensive node, '-' without a plan. */
function costliestLabel(query: Report['queries'][number]): string {
  return query.plan ? nodeLabel(costliestNode(query.plan.root)) : '-';
}

/** `workload orders.sql`, or a scenario's own name: `workload "shop reads"`. */
function workloadLabel(report: Report): string {
  const { name, source } = report.workload;
  const stem = source !== undefined ? basename(source).replace(/\.[^.]*$/, '') : undefined;
  return stem === name ? `workload ${basename(source!)}` : `workload "${name}"`;
}

export function renderTable(report: Report, options: TableOptions = {}): string {
  const top = options.top ?? 15;
  const style = options.color ? {} : { head: [], border: [] };
  const width = layoutWidth(options.width);
  const lines: string[] = [];
  const t = report.target;
  lines.push(
    ...wrapText(
      `querygate ${report.tool.version} · PostgreSQL ${t.serverVersion} (${t.kind}${t.kind === 'external' ? ` ${t.address}/${t.database}` : ''}) · ` +
        `${workloadLabel(report)}: ${formatRunCalls(report.queries)}, ${formatMs(report.totals.totalMs)} database time` +
        (report.totals.throughput ? `, ${formatCount(report.totals.throughput)} statements/s` : ''),
      width,
      2,
      '',
    ),
  );
  if (!report.run.complete)
    lines.push(
      ...wrapText(`INCOMPLETE: ${report.run.interruptedBy ?? 'interrupted'}; partial results below`, width, 2, ''),
    );
  type Query = Report['queries'][number];
  // A statement of which no call completed (every call failed, or it was cut short by the stop) has
  // nothing measured: its cells say so rather than 0.
  const measured =
    (show: (q: Query) => string, failed = '-') =>
    (q: Query) =>
      everyCallFailed(q) ? failed : nothingMeasured(q) ? '-' : show(q);
  const all: Column<Query>[] = [
    // The rank by database time, which the findings below refer to (`#3`).
    { head: '#', width: 4, dropOrder: 0, cell: (q) => String(report.queries.indexOf(q) + 1) },
    { head: 'total', width: 10, dropOrder: 0, cell: measured((q) => formatMs(q.totalMs), 'failed') },
    // Left out after the columns below, by a terminal narrower than 80 columns: the rank, the
    // total and some text of the statement stay.
    { head: 'share', width: 7, dropOrder: 5, cell: measured((q) => formatPercent(q.dbTimeShare)) },
    { head: 'calls', width: 8, dropOrder: 6, cell: (q) => formatCount(q.calls) },
    { head: 'mean', width: 10, dropOrder: 7, cell: measured((q) => formatMs(q.meanMs)) },
    // Client latency is the replay's own: an HTTP run's statements are sent by the application.
    ...(report.queries.some((q) => q.latency)
      ? [{ head: 'p95', width: 10, dropOrder: 3, cell: (q: Query) => formatMs(q.latency?.p95) }]
      : []),
    { head: 'rows/call', width: 11, dropOrder: 2, cell: measured((q) => formatCount(q.rowsPerCall)) },
    { head: 'blks/call', width: 11, dropOrder: 4, cell: measured((q) => formatCount(q.sharedBlksPerCall)) },
    { head: 'costliest plan node', width: 26, dropOrder: 1, cell: costliestLabel },
  ];
  const { columns, lastWidth: queryWidth, left } = fitColumns(all, width, 30);
  const table = new Table({
    head: [...columns.map((c) => c.head), 'statement'],
    style,
    wordWrap: true,
    colWidths: [...columns.map((c) => c.width), queryWidth],
  });
  const rows = summaryRows(report.queries, top);
  for (const { query: q, index } of rows) {
    const notes = [failedCalls(q), cancelledCalls(q)].filter((n) => n !== '');
    table.push([
      ...columns.map((c) => c.cell(q, index)),
      // On a line of its own: appended to the text, it wrapped in the middle at narrow widths.
      oneLine(q.nested ? `↳ ${nestedPlace(q)}: ${q.query}` : q.query, queryWidth * 2 - 6) +
        notes.map((n) => `\n${n}`).join(''),
    ]);
  }
  // A run that recorded no statement has no table: its header alone reads as output cut short.
  if (report.queries.length === 0) lines.push('no statement was recorded: no statements to list');
  else lines.push(table.toString());
  const note = report.queries.length === 0 ? undefined : leftOutNote(left, width, options.width);
  if (note) lines.push(...wrapText(note, width, 2, ''));
  if (rows.some((r) => r.query.nested))
    lines.push(
      ...wrapText(
        "↳ ran inside a function or a trigger, under the statement that runs it: its time is part of its caller's, " +
          'and not counted again in the total',
        width,
        2,
        '',
      ),
    );
  if (report.queries.length > rows.length)
    lines.push(`… and ${report.queries.length - rows.length} more statement(s) in the JSON report`);
  const routes = renderRoutesTable(report, { ...(options.color ? { color: true } : {}), width });
  if (routes) lines.push('', routes);

  const findings = report.queries.flatMap((q, i) => q.findings.map((f) => ({ q, i, f })));
  if (findings.length > 0) {
    // Most severe first; within a severity, the statement that costs the most database time first.
    const order = { error: 0, warning: 1, info: 2 } as const;
    findings.sort((a, b) => order[a.f.severity] - order[b.f.severity] || b.q.totalMs - a.q.totalMs || a.i - b.i);
    const counts = (['error', 'warning', 'info'] as const)
      .map((s) => [s, findings.filter((x) => x.f.severity === s).length] as const)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${s}${n > 1 ? 's' : ''}`);
    lines.push('', `Findings (${counts.join(', ')}):`);
    // Two rules often see one scan (the predicate and the rows it makes the scan read) and give the
    // same fix: print it once per statement.
    const fixes = new Map<string, string>();
    for (const { q, i, f } of findings) {
      const where = q.source
        ? `"${q.source}"`
        : q.nested
          ? `${nestedPlace(q)}: ${oneLine(q.query, 50)}`
          : oneLine(q.query, 60);
      const callers = (q.nested?.callers ?? [])
        .map((fingerprint) => report.queries.findIndex((c) => !c.nested && c.fingerprint === fingerprint))
        .filter((c) => c >= 0)
        .map((c) => `#${c + 1}`);
      // A budget that accepts the finding: say so, so that an accepted error is not read as failing.
      const accepted = report.gate?.findings.find(
        (g) =>
          g.status === 'accepted' &&
          g.fingerprint === q.fingerprint &&
          g.finding.rule === f.rule &&
          g.finding.message === f.message,
      );
      lines.push(
        ...wrapText(
          `${f.rule}  #${i + 1} ${where} (${everyCallFailed(q) ? failedCalls(q) : `${formatPercent(q.dbTimeShare)} of database time`}` +
            `${callers.length > 0 ? `, within ${callers.join(', ')}` : ''})${accepted ? ', accepted by the budget' : ''}`,
          width,
          10,
          `  ${f.severity.toUpperCase().padEnd(7)} `,
        ),
      );
      lines.push(...wrapText(f.message, width, 10));
      if (f.caveat) lines.push(...wrapText(f.caveat, width, 18, '          caveat: '));
      if (f.nodePath) lines.push(...wrapText(f.nodePath, width, 14, '          at: '));
      const [first, ...others] = fixOptions(f);
      if (!first) continue;
      const same = fixes.get(`${i}\n${shownFix(first)}`);
      lines.push(...wrapText(same ? `the same as for ${same} above` : shownFix(first), width, 15, '          fix: '));
      if (!same) {
        if (first.note) lines.push(...wrapText(first.note, width, 16, '          note: '));
        fixes.set(`${i}\n${shownFix(first)}`, f.rule);
      }
      // The other fixes, but those already printed for the statement (the same index, say).
      for (const other of others) {
        if (fixes.has(`${i}\n${shownFix(other)}`)) continue;
        lines.push(...wrapText(shownFix(other), width, 14, '          or: '));
        if (other.note) lines.push(...wrapText(other.note, width, 16, '          note: '));
        fixes.set(`${i}\n${shownFix(other)}`, f.rule);
      }
    }
  }
  const suppressed = report.queries.flatMap((q) => q.suppressed.map((s) => ({ q, s })));
  if (suppressed.length > 0) {
    lines.push('', `Suppressed (${suppressed.length}):`);
    for (const { q, s } of suppressed) {
      lines.push(
        `  ${s.rule}  ${q.source ? `"${q.source}"` : oneLine(q.query, 60)}: ${s.reason} (${s.source === 'comment' ? 'querygate-ignore' : s.source})`,
      );
    }
  }
  for (const w of report.warnings) lines.push(...wrapText(w, width, 9, 'warning: '));
  return lines.join('\n');
}

/** A fix as the summary prints it: a validated index with the plan costs it was judged by. */
function shownFix(fix: FixOption): string {
  return fix.advice
    ? `${fix.text}  (plan cost ${fix.advice.costBefore.toFixed(0)} -> ${fix.advice.costAfter.toFixed(0)}, validated with ${fix.advice.method})`
    : fix.text;
}
