import { beforeAll, describe, expect, it } from 'vitest';
import { judgeStatistics, statisticsStatements } from '../../src/advise/statistics.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';

beforeAll(loadParser);

const finding = (suggestion: string): Finding => ({
  rule: 'row-estimate-mismatch',
  severity: 'warning',
  messageId: 'filter',
  message: 'constructed by the test',
  relation: 'public.docs',
  evidence: { estimatedRows: 5, actualRows: 7500, loops: 3, rows: 'total', ratio: 1500, direction: 'under' },
  suggestion,
});

describe('statistics fixes judged by the planner (pure)', () => {
  const stats =
    'CREATE STATISTICS public.docs_lower_body_stats ON (lower(body)) FROM public.docs; ANALYZE public.docs; -- statistics on the expression';

  it('reads the statements of a statistics fix, and nothing else', () => {
    expect(statisticsStatements(stats)).toEqual([
      'CREATE STATISTICS public.docs_lower_body_stats ON (lower(body)) FROM public.docs',
      'ANALYZE public.docs',
    ]);
    expect(
      statisticsStatements('ALTER TABLE public.docs ALTER COLUMN flag SET STATISTICS 1000; ANALYZE public.docs;'),
    ).toEqual(['ALTER TABLE public.docs ALTER COLUMN flag SET STATISTICS 1000', 'ANALYZE public.docs']);
    expect(statisticsStatements('ALTER TABLE public.docs DROP COLUMN flag; ANALYZE public.docs;')).toBeUndefined();
    expect(statisticsStatements('no statistics describe this filter')).toBeUndefined();
  });

  it('says the statistics are validated when the estimate comes close to the rows counted', () => {
    expect(judgeStatistics(finding(stats), 7379).suggestion).toBe(
      `${stats}; validated with rollback-build: with them the planner expects 7,379 rows where 7,500 were counted (it expected 5)`,
    );
  });

  it('says they are no fix, and makes the finding info, when the estimate stays as it was', () => {
    const judged = judgeStatistics(finding(stats), 6);
    expect(judged.severity).toBe('info');
    expect(judged.suggestion).toBe(
      'no statistics change this estimate: with CREATE STATISTICS public.docs_lower_body_stats ON (lower(body)) FROM public.docs; ANALYZE public.docs, ' +
        'the planner still expects 6 rows where 7,500 were counted (it expected 5; validated with rollback-build)',
    );
  });
});
