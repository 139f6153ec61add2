import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 60,000 articles whose words repeat every 20 rows ('silk lamp' is in 5% of them) but for 'zebra',
// in 30 of them; and the same rows in a table that stores the document in a generated column with
// a GIN index, as the application's search should use it.
const SCHEMA = `
CREATE TABLE articles (id bigint PRIMARY KEY, name text NOT NULL, description text NOT NULL);
INSERT INTO articles
SELECT g, (ARRAY['red','blue','oak','silk'])[1 + g % 4] || ' ' || (ARRAY['chair','lamp','mirror','desk','rug'])[1 + (g / 4) % 5] || ' ' || g,
       'a piece made of ' || (ARRAY['wood','metal','glass'])[1 + g % 3] || CASE WHEN g % 2000 = 7 THEN ' zebra' ELSE '' END || ' model ' || md5(g::text)
  FROM generate_series(1, 60000) g;
CREATE TABLE products (LIKE articles,
  search tsvector GENERATED ALWAYS AS (to_tsvector('english', name || ' ' || description)) STORED);
INSERT INTO products (id, name, description) SELECT id, name, description FROM articles;
CREATE INDEX products_search_gin ON products USING gin (search);
ANALYZE;
`;
const search = (table: string, words: string, page = ' ORDER BY id LIMIT 20') =>
  `SELECT id, name FROM ${table} WHERE to_tsvector('english', name || ' ' || description) @@ plainto_tsquery('english', '${words}')${page};`;
// pg_stat_statements keys statements by their shape: the rare word's returns every match.
const WORKLOAD = [
  search('articles', 'silk lamp'),
  search('articles', 'zebra', ''),
  search('products', 'silk lamp'),
].join('\n');
const DOCUMENT = `to_tsvector('english'::regconfig, ((name || ' '::text) || description))`;

/** The finding of `rule` for the statement whose text includes `needle`. */
const findingOf = (report: Report, needle: string, rule: string): Finding | undefined =>
  report.queries.find((q) => q.query.includes(needle))?.findings.find((f) => f.rule === rule);
/** The finding of `rule` for the search of the rare word (every match, no LIMIT). */
const everyMatch = (report: Report, rule: string): Finding | undefined =>
  report.queries
    .find((q) => q.query.includes('FROM articles') && !q.query.includes('LIMIT'))
    ?.findings.find((f) => f.rule === rule);

describe('full-text search without its index (real rules, validated on the planner)', () => {
  let report: Report;
  let analyzed: Report;
  let unvalidated: Report;

  beforeAll(async () => {
    await loadParser();
    [report, analyzed, unvalidated] = await Promise.all([
      runSqlText('text_search', SCHEMA, WORKLOAD, { allowIndexBuild: true }),
      runSqlText('text_search_analyzed', SCHEMA, WORKLOAD, { allowIndexBuild: true, analyze: true }),
      runSqlText('text_search_unvalidated', SCHEMA, WORKLOAD),
    ]);
  });

  it('for a rare word, proposes a GIN index on the document expression, validated', () => {
    const finding = everyMatch(report, 'seq-scan-large-table');
    expect(finding?.advice?.method).toBe('rollback-build');
    expect(finding?.advice?.sql).toBe(
      `CREATE INDEX CONCURRENTLY articles_to_tsvector_name_description_idx ON public.articles USING gin ((${DOCUMENT}));`,
    );
  });

  it('for a common word, the statistics on the document are the fix: the planner then walks the primary key', () => {
    const finding = findingOf(
      report,
      'FROM articles WHERE to_tsvector($1, name || $2 || description) @@ plainto_tsquery($3, $4) ORDER BY id LIMIT',
      'seq-scan-large-table',
    );
    expect(finding?.relation).toBe('public.articles');
    expect(finding?.advice?.kind).toBe('statistics');
    expect(finding?.advice?.sql).toBe(
      `CREATE STATISTICS public.articles_to_tsvector_name_description_stats ON (${DOCUMENT}) FROM public.articles; ANALYZE public.articles;`,
    );
    expect(finding?.advice?.improvement).toBeGreaterThan(0.5);
    // Never the primary key again, for the ORDER BY.
    expect(finding?.suggestion).not.toMatch(/\(id\)/);
  });

  it('names the generated column that holds the document, with its index, instead of a second index', () => {
    const finding = findingOf(report, 'FROM products', 'seq-scan-large-table');
    expect(finding?.suggestion).toMatch(
      /^write the condition on the generated column search, which holds its expression: search @@ plainto_tsquery\('english', 'silk lamp'\) \(the index products_search_gin serves the column; plan cost \d+ -> \d+ with the condition rewritten, validated on the planner\)$/,
    );
    const [, before, after] = /plan cost (\d+) -> (\d+)/.exec(finding!.suggestion!)!;
    expect(Number(after)).toBeLessThan(Number(before) / 2);
    expect(finding?.advice).toBeUndefined();
  });

  it('with --analyze, proposes statistics on the document, not on its columns, and validates them', () => {
    const finding = findingOf(
      analyzed,
      'FROM articles WHERE to_tsvector($1, name || $2 || description) @@ plainto_tsquery($3, $4) ORDER BY id LIMIT',
      'row-estimate-mismatch',
    );
    expect(finding?.suggestion).toMatch(
      new RegExp(
        `^CREATE STATISTICS public\\.articles_to_tsvector_name_description_stats ON \\(${DOCUMENT.replace(/[()|.*]/g, '\\$&')}\\) FROM public\\.articles; ANALYZE public\\.articles; .*; validated with rollback-build: with them the planner expects [\\d,]+ rows where 3,000 were counted \\(it expected \\d+\\)$`,
      ),
    );
    expect(finding?.suggestion).not.toMatch(/ON name, description/);
  });

  it('without validation, names the GIN index rather than nothing', () => {
    const finding = everyMatch(unvalidated, 'seq-scan-large-table');
    expect(finding?.suggestion).toBe(
      `CREATE INDEX CONCURRENTLY articles_to_tsvector_name_description_idx ON public.articles USING gin ((${DOCUMENT})); -- not validated on the planner`,
    );
  });
});
