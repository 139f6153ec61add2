/** hash-spill: a hash join's hash table or a hash aggregate that did not fit in work_mem. */
import { formatPath } from '../analyze/plan.js';
import {
  describeSpillNode,
  findSpills,
  hashWorkMemKb,
  settingsEvidence,
  spilledAt,
  spillReason,
  suggestedWorkMem,
} from '../analyze/spill.js';
import { measureWith } from '../analyze/measure.js';
import { defineRule, type RuleFinding } from './define.js';

export default defineRule({
  id: 'hash-spill',
  severity: 'warning',
  category: 'memory',
  description: 'A Hash or HashAggregate did not fit in work_mem and split into batches on disk.',
  messages: {
    hash: '{node} split into {batches} batches (planned {originalBatches}) with {peakMemoryKb} kB in memory: the rest went to disk',
    hashagg: '{node} split into {batches} batches and wrote {diskKb} kB to disk',
    statistics:
      'the statement wrote {tempWrittenBlocksPerCall} temp blocks ({diskKb} kB) per call; {node} is the likely spill: {why} ({confirm})',
  },
  defaultOptions: {
    /** Spills smaller than this (kB per call, where known) are ignored. */
    minDiskKb: 0,
  },
  check({ query, nodes, tree, options }) {
    const findings: RuleFinding[] = [];
    for (const spill of findSpills(query, nodes, tree)) {
      if (spill.kind !== 'hash' && spill.kind !== 'hashagg') continue;
      const diskKb = Number(spill.evidence.diskKb ?? 0);
      if (spill.evidence.diskKb !== undefined && diskKb < options.minDiskKb) continue;
      const settings = query.plan?.settings;
      const workMem = suggestedWorkMem(
        hashWorkMemKb(spill.evidence, spill.kind, settings?.hashMemMultiplier),
        settings,
      );
      const messageId = spill.source === 'statistics' ? 'statistics' : spill.kind;
      findings.push({
        messageId,
        nodePath: formatPath(spill.node.path),
        evidence: { ...spill.evidence, ...settingsEvidence(query) },
        data: {
          node: describeSpillNode(spill.node),
          ...(spill.source === 'statistics' ? { why: spillReason(spill) } : {}),
          confirm: `run ${measureWith(query)} to confirm`,
        },
        suggestion:
          `SET LOCAL work_mem = '${workMem}' for this statement (${spilledAt(settings?.workMemKb)}; hash_mem_multiplier scales it for hashes)` +
          (spill.kind === 'hash'
            ? ', hash the smaller side (check row estimates), or select fewer columns'
            : ', or group fewer rows (filter first)'),
      });
    }
    return findings;
  },
});
