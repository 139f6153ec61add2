import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 200,000 articles, most of them published; a full-text search whose term is in 1 row of 20 of the
// older half only, newest first. An index on (status, published_at) walks the newest rows for the
// ORDER BY, its filter throwing away every row until the old ones; the GIN index on the document
// finds the matches.
const schema = (title: string, matches: string) => `
CREATE TABLE articles (id int PRIMARY KEY, title text NOT NULL, search tsvector, status text NOT NULL,
  published_at timestamptz, deleted_at timestamptz);
INSERT INTO articles
SELECT g, ${title},
  to_tsvector('english', (ARRAY['garden','river','market','kitchen','winter','station'])[1 + g % 6] || ' ' ||
    (ARRAY['blue','green','quiet','busy'])[1 + g % 4] || CASE WHEN ${matches} THEN ' espresso' ELSE '' END),
  CASE WHEN g % 7 = 0 THEN 'draft' WHEN g % 11 = 0 THEN 'archived' ELSE 'published' END,
  timestamptz '2020-01-01' + g * interval '10 minutes',
  CASE WHEN g % 50 = 0 THEN now() END
FROM generate_series(1, 200000) AS g;
ANALYZE articles;
`;
const WORKLOAD = `SELECT id, title, published_at FROM articles WHERE deleted_at IS NULL AND status = 'published'
  AND search @@ websearch_to_tsquery('english', 'espresso') ORDER BY published_at DESC LIMIT 20;`;

const advised = (report: Report): Finding | undefined => report.queries[0]?.findings.find((f) => f.advice);

describe('an ORDER BY index whose walk filters a search row by row is not preferred to the index that serves the search', () => {
  beforeAll(async () => {
    await loadParser();
  });

  it('a status that most rows have does not make (status, published_at) an index for the filter', async () => {
    const report = await runSqlText('order_walk_filter', schema(`'a' || g`, 'g % 97 = 0 AND g < 60000'), WORKLOAD, {
      allowIndexBuild: true,
    });
    const finding = advised(report);
    expect(finding?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY articles_search_idx ON public.articles USING gin (search);',
    );
    expect(finding?.suggestion).not.toMatch(/published_at\)/);
  });

  const narrow = () => schema(`repeat('a', 300) || g`, 'g % 20 = 0 AND g < 100000');

  it('short of the bar on the planner, where the statement is not run, both are named: the search index with why', async () => {
    const report = await runSqlText('order_walk_named', narrow(), WORKLOAD, { allowIndexBuild: true });
    const finding = advised(report);
    expect(finding?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY articles_published_at_idx ON public.articles (published_at);',
    );
    expect(finding?.suggestion).toContain('-- it serves the ORDER BY only');
    expect(finding?.suggestion).toMatch(
      / -- or: CREATE INDEX CONCURRENTLY articles_search_idx ON public\.articles USING gin \(search\); -- it serves the filter, whatever the values \(plan cost \d+ -> \d+ with it, .*\): the walk for the ORDER BY reads the whole index for a value the filter keeps rarely or never/,
    );
  });

  it('short of the bar on the planner, where the statement may be run, the search index is measured against the walk and wins', async () => {
    const report = await runSqlText('order_walk_measured', narrow(), WORKLOAD, {
      allowIndexBuild: true,
      analyze: true,
    });
    const finding = advised(report);
    expect(finding?.advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY articles_search_idx ON public.articles USING gin (search);',
    );
    // Run with it, the statement reads fewer blocks than without (and than with the ORDER BY index).
    expect(finding?.advice?.measured?.blocksAfter).toBeLessThan(finding!.advice!.measured!.blocksBefore);
    expect(finding?.advice?.improvement).toBeLessThan(0.5);
    expect(finding?.suggestion).not.toContain('published_at_idx');
  });
});
