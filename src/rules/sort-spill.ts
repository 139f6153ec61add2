/** sort-spill: a sort that did not fit in work_mem and used temporary files. */
import { formatPath } from '../analyze/plan.js';
import { findSpills, settingsEvidence, sortMemoryKb, spilledAt, suggestedWorkMem } from '../analyze/spill.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'sort-spill',
  severity: 'warning',
  category: 'memory',
  description: 'A sort did not fit in work_mem and spilled to disk.',
  messages: {
    plan: '{node} spilled to disk ({sortMethod}, {diskKb} kB written)',
    statistics:
      'the statement wrote {tempWrittenBlocksPerCall} temp blocks ({diskKb} kB) per call; its largest sort, {node}, is the likely spill (run with --analyze to confirm)',
  },
  defaultOptions: {
    /** Spills smaller than this (kB per call) are ignored. */
    minDiskKb: 0,
  },
  check({ query, nodes, options }) {
    const findings: RuleFinding[] = [];
    for (const spill of findSpills(query, nodes)) {
      if (spill.kind !== 'sort') continue;
      const diskKb = Number(spill.evidence.diskKb ?? 0);
      if (diskKb < options.minDiskKb) continue;
      const sortKey = spill.evidence.sortKey;
      const settings = query.plan?.settings;
      const workMem = suggestedWorkMem(sortMemoryKb(diskKb), settings);
      findings.push({
        messageId: spill.source,
        nodePath: formatPath(spill.node.path),
        evidence: { ...spill.evidence, ...settingsEvidence(query) },
        data: { node: sortKey ? `the sort on ${sortKey}` : (spill.node.path[spill.node.path.length - 1] ?? 'Sort') },
        suggestion:
          `SET LOCAL work_mem = '${workMem}' for this statement (${spilledAt(settings?.workMemKb)}), sort fewer rows (filter or LIMIT first)` +
          (sortKey ? `, or an index in the order of ${sortKey} so that no sort is needed` : ''),
      });
    }
    return findings;
  },
});
