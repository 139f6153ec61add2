import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateCandidates } from '../../src/advise/candidates.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { IndexInfo, Report } from '../../src/model/report.js';
import type { PlanFixture } from '../../scripts/capture-plan-fixtures.js';

const plans = (path: string) =>
  (
    JSON.parse(
      readFileSync(fileURLToPath(new URL(`../../fixtures/plans/${path}`, import.meta.url)), 'utf8'),
    ) as PlanFixture
  ).report;

/** The report with one more index on a relation, as the catalog would describe it. */
function withIndex(report: Report, relation: string, index: Pick<IndexInfo, 'name' | 'definition' | 'method'>): Report {
  return {
    ...report,
    relations: report.relations.map((r) =>
      r.name === relation
        ? {
            ...r,
            indexes: [
              ...r.indexes,
              {
                ...index,
                columns: [],
                expressions: [],
                unique: false,
                primary: false,
                partial: false,
                valid: true,
                sizeBytes: 8192,
              },
            ],
          }
        : r,
    ),
  };
}

beforeAll(loadParser);

describe('index candidates (pure, from captured plans)', () => {
  it('never proposes an index the table already has, whatever its kind', () => {
    const report = plans('non-sargable-predicate/predicates.json');
    const query = report.queries.find((q) => q.source === 'bad: leading wildcard')!;
    const keys = (r: Report) =>
      generateCandidates(query, { relation: 'public.users' }, r, { trigram: true }).map((c) => c.keys.join(', '));
    expect(keys(report)).toContain('email gin_trgm_ops');
    const indexed = withIndex(report, 'public.users', {
      name: 'users_email_search_idx',
      definition: 'CREATE INDEX users_email_search_idx ON public.users USING gin (email gin_trgm_ops)',
      method: 'gin',
    });
    expect(keys(indexed)).not.toContain('email gin_trgm_ops');
  });

  it('with equality columns and the order an index was walked for, proposes first the index that serves both', () => {
    // WHERE tenant_id = 7 AND status = 'closed' ORDER BY id LIMIT 20, the primary key walked in order.
    const report = plans('index-scan-filter/cases.json');
    const query = report.queries.find((q) => q.source?.startsWith('bad: the primary key walked'))!;
    const candidates = generateCandidates(query, { relation: 'public.tickets' }, report, { trigram: false });
    expect(candidates.map((c) => c.keys.join(', ')).slice(0, 2)).toEqual(['tenant_id, status, id', 'tenant_id']);
  });
});
