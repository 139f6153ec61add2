/** The terminal summary: statements ranked by database time, then findings. Pure: returns a string. */
import Table from 'cli-table3';
import { nodeLabel, walkPlan } from '../analyze/plan.js';
import type { Report } from '../model/report.js';
import { renderRoutesTable } from './routes.js';
import { formatCount, formatMs, formatPercent, oneLine } from './format.js';

export interface TableOptions {
  /** Rows in the statements table. */
  readonly top?: number;
  /** ANSI colour in table borders and headings. */
  readonly color?: boolean;
  /** Terminal width, to size the query column. */
  readonly width?: number;
}

/** The most expensive node of a plan, by its own cost (total minus its children's). */
export function costliestNode(report: Report['queries'][number]): string {
  if (!report.plan) return report.planNote ? '-' : '-';
  let best = { label: '-', cost: -1 };
  for (const { node } of walkPlan(report.plan.root)) {
    const children = (node.Plans ?? []).reduce((s, c) => s + c['Total Cost'], 0);
    const own = node['Total Cost'] - children;
    if (own > best.cost) best = { label: nodeLabel(node), cost: own };
  }
  return best.label;
}

export function renderTable(report: Report, options: TableOptions = {}): string {
  const top = options.top ?? 15;
  const style = options.color ? {} : { head: [], border: [] };
  const width = Math.max(80, options.width ?? 120);
  const lines: string[] = [];
  const t = report.target;
  lines.push(
    `querygate ${report.tool.version} · PostgreSQL ${t.serverVersion} (${t.kind}${t.kind === 'external' ? ` ${t.address}/${t.database}` : ''}) · ` +
      `workload ${report.workload.name}: ${formatCount(report.totals.calls)} calls, ${formatMs(report.totals.totalMs)} database time` +
      (report.totals.throughput ? `, ${formatCount(report.totals.throughput)} statements/s` : ''),
  );
  if (!report.run.complete)
    lines.push(`INCOMPLETE: ${report.run.interruptedBy ?? 'interrupted'}; partial results below`);
  const queryWidth = Math.max(30, width - 100);
  const table = new Table({
    head: ['#', 'total', 'share', 'calls', 'mean', 'p95', 'rows/call', 'blks/call', 'costliest plan node', 'statement'],
    style,
    wordWrap: true,
    colWidths: [4, 10, 7, 8, 10, 10, 10, 10, 26, queryWidth],
  });
  report.queries.slice(0, top).forEach((q, i) => {
    table.push([
      String(i + 1),
      formatMs(q.totalMs),
      formatPercent(q.dbTimeShare),
      formatCount(q.calls),
      formatMs(q.meanMs),
      formatMs(q.latency?.p95),
      formatCount(q.rowsPerCall),
      formatCount(q.sharedBlksPerCall),
      costliestNode(q),
      oneLine(q.query, queryWidth * 2 - 6) + (q.errors ? ` [${q.errors} errors]` : ''),
    ]);
  });
  lines.push(table.toString());
  if (report.queries.length > top)
    lines.push(`… and ${report.queries.length - top} more statement(s) in the JSON report`);
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
    for (const { q, i, f } of findings) {
      const where = q.source ? `"${q.source}"` : oneLine(q.query, 60);
      lines.push(
        `  ${f.severity.toUpperCase().padEnd(7)} ${f.rule}  #${i + 1} ${where} (${formatPercent(q.dbTimeShare)} of database time)`,
      );
      lines.push(`          ${f.message}`);
      if (f.nodePath) lines.push(`          at: ${f.nodePath}`);
      if (f.advice) {
        lines.push(
          `          fix: ${f.advice.sql}  (plan cost ${f.advice.costBefore.toFixed(0)} -> ${f.advice.costAfter.toFixed(0)}, validated with ${f.advice.method})`,
        );
      } else if (f.suggestion) {
        lines.push(`          fix: ${f.suggestion}`);
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
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
