import { beforeAll, describe, expect, it } from 'vitest';
import { generatedColumnHolding, generatedColumnRewrite } from '../../src/analyze/generated-columns.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { RelationInfo } from '../../src/model/report.js';

const products: RelationInfo = {
  name: 'public.products',
  schema: 'public',
  table: 'products',
  kind: 'table',
  estimatedRows: 150_000,
  liveRows: 150_000,
  pages: 5_000,
  sizeBytes: 0,
  totalSizeBytes: 0,
  lastAnalyzed: null,
  // As pg_get_expr prints the generation expression.
  generatedColumns: { search: "to_tsvector('english'::regconfig, ((name || ' '::text) || description))" },
  indexes: [],
};

beforeAll(loadParser);

describe('stored generated columns that hold an expression a statement computes', () => {
  it('finds the column that holds an expression as a plan prints it', () => {
    expect(
      generatedColumnHolding(products, "to_tsvector('english'::regconfig, ((name || ' '::text) || description))"),
    ).toBe('search');
    expect(
      generatedColumnHolding(products, "to_tsvector('simple'::regconfig, ((name || ' '::text) || description))"),
    ).toBeUndefined();
    expect(generatedColumnHolding(products, "to_tsvector('english'::regconfig, name)")).toBeUndefined();
  });

  it('writes the filter on the column, qualified as the statement qualifies the expression', () => {
    expect(
      generatedColumnRewrite(
        "SELECT id, name FROM products WHERE to_tsvector('english', name || ' ' || description) @@ plainto_tsquery('english', $1) ORDER BY id LIMIT 20",
        products,
      ),
    ).toEqual({
      columns: ['search'],
      sql: "SELECT id, name FROM products WHERE search @@ plainto_tsquery('english', $1) ORDER BY id LIMIT 20",
      conditions: ["search @@ plainto_tsquery('english', $1)"],
    });
    const joined = generatedColumnRewrite(
      "SELECT p.id FROM public.products p JOIN stock s ON s.product_id = p.id WHERE s.on_hand > 0 AND to_tsvector('english', p.name || ' ' || p.description) @@ to_tsquery($1)",
      products,
    );
    expect(joined?.conditions).toEqual(['p.search @@ to_tsquery($1)']);
    expect(joined?.sql).toContain('WHERE s.on_hand > 0 AND p.search @@ to_tsquery($1)');
  });

  it('leaves alone an expression with a parameter (maybe another configuration), or over another table', () => {
    expect(
      generatedColumnRewrite(
        "SELECT id FROM products WHERE to_tsvector($2, name || ' ' || description) @@ plainto_tsquery($1)",
        products,
      ),
    ).toBeUndefined();
    expect(
      generatedColumnRewrite(
        "SELECT a.id FROM articles a WHERE to_tsvector('english', a.name || ' ' || a.description) @@ plainto_tsquery($1)",
        products,
      ),
    ).toBeUndefined();
  });
});
