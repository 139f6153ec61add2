/** The demo's conclusion: the statement that dominates database time, with its evidence. */
import { formatPath, walkPlan } from '../analyze/plan.js';
import { topLevel, type Report } from '../model/report.js';
import {
  fixOptions,
  formatBytes,
  formatCount,
  formatCountOf,
  formatMs,
  formatPercent,
  nestedPlace,
  oneLine,
} from './format.js';

export function renderCulprit(report: Report): string {
  // The statements the workload sent: one run inside a function is part of its caller's time.
  const statements = topLevel(report.queries);
  const culprit = statements[0];
  if (!culprit) return 'No statement was captured.';
  // Name it by what the user knows: the scenario statement, else the HTTP routes that run it.
  const routes = (culprit.routes ?? []).filter((r) => r.callsPerRequest > 0).map((r) => `"${r.route}"`);
  const name = culprit.source
    ? `"${culprit.source}"`
    : routes.length > 0
      ? `the statement behind route ${routes.join(', ')}`
      : 'statement #1';
  const lines = [
    `Culprit: ${name} takes ${formatPercent(culprit.dbTimeShare)} of all database time`,
    `  ${oneLine(culprit.query, 160)}`,
    `  ${formatCountOf(culprit.calls, 'call')}, mean ${formatMs(culprit.meanMs)}, ${formatCount(culprit.sharedBlksPerCall)} shared blocks per call` +
      ` (${formatBytes(culprit.sharedBlksPerCall * 8192)} read per call)`,
  ];
  const others = statements.slice(1);
  const otherCalls = others.reduce((s, q) => s + q.calls, 0);
  const otherMs = others.reduce((s, q) => s + q.totalMs, 0);
  if (otherCalls > 0) {
    lines.push(
      `  every other statement together: ${formatCountOf(otherCalls, 'call')}, mean ${formatMs(otherMs / otherCalls)}` +
        ` -> one call of the culprit costs as much as ${formatCount(Math.round(culprit.meanMs / (otherMs / otherCalls)))} ordinary calls`,
    );
  }
  if (culprit.plan) {
    const scans = walkPlan(culprit.plan.root).filter(({ node }) => /Seq Scan/.test(node['Node Type']));
    for (const { node, path } of scans) {
      const relation = report.relations.find((r) => r.table === node['Relation Name']);
      lines.push(
        `  plan: ${formatPath(path)}` +
          (relation
            ? ` reads all of ${relation.name} (${formatCount(relation.estimatedRows)} rows, ${formatBytes(relation.sizeBytes)})`
            : '') +
          (node.Filter ? ` filtering ${node.Filter}` : ''),
      );
    }
  }
  // Its time inside the functions it calls: the statements there, with their own findings.
  const inner = report.queries.filter((q) => q.nested?.callers.includes(culprit.fingerprint)).slice(0, 3);
  for (const q of inner)
    lines.push(
      `  ${nestedPlace(q)}: ${oneLine(q.query, 120)} takes ${formatMs(q.totalMs)}, mean ${formatMs(q.meanMs)}`,
    );
  const flagged = [culprit, ...inner].flatMap((q) => q.findings);
  const named = [...new Set(flagged.filter((f) => f.severity !== 'info').map((f) => f.rule))];
  if (named.length > 0) lines.push(`  flagged by ${named.join(', ')}:`);
  for (const f of flagged) {
    lines.push(`  ${f.severity} ${f.rule}: ${f.message}`);
    // In the order to try them: a rule's rewrite may come before the validated index.
    for (const [n, fix] of fixOptions(f).entries()) {
      const costs = fix.advice
        ? ` (plan cost ${fix.advice.costBefore.toFixed(0)} -> ${fix.advice.costAfter.toFixed(0)})`
        : '';
      lines.push(`    ${n === 0 ? 'fix' : 'or'}: ${fix.text}${costs}`);
      if (fix.note) lines.push(`    note: ${fix.note}`);
    }
  }
  return lines.join('\n');
}
