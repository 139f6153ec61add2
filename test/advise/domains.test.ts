/**
 * Index advice on columns whose type is a domain, with the real rules and validation on a real
 * PostgreSQL. PostgreSQL compares a domain's values with its base type's operators, so a plan prints
 * `country = 'DEU'` on a domain over char(3) as `((country)::bpchar = 'DEU'::bpchar)`: a comparison
 * on the column itself, which a plain index on the column serves (not an expression index on the
 * cast). A cast to another type converts, and stays an expression.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generateCandidates } from '../../src/advise/candidates.js';
import { loadParser } from '../../src/analyze/parser.js';
import type { Finding } from '../../src/model/finding.js';
import type { QueryReport, Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

const SCHEMA = `
CREATE DOMAIN code AS char(3);
CREATE DOMAIN label AS text;
CREATE DOMAIN email AS varchar(80);
CREATE DOMAIN qty AS int CHECK (VALUE >= 0);
CREATE DOMAIN small_qty AS qty CHECK (VALUE < 1000);
CREATE TABLE shipments (
  id bigint PRIMARY KEY,
  country code NOT NULL,
  carrier label NOT NULL,
  contact email NOT NULL,
  pieces small_qty NOT NULL,
  note text NOT NULL
);
INSERT INTO shipments
SELECT g, (ARRAY['DEU', 'FRA', 'USA', 'GBR', 'NLD', 'SWE', 'ITA', 'ESP', 'POL', 'AUT'])[1 + g % 10],
       'carrier ' || (g % 5000), 'contact' || (g % 20000) || '@example.com', g % 1000, 'note ' || g
  FROM generate_series(1, 200000) AS g;
`;

const STATEMENTS = {
  text: "SELECT id FROM shipments WHERE carrier = 'carrier 17'",
  varchar: "SELECT id FROM shipments WHERE contact = 'contact17@example.com'",
  int: 'SELECT id FROM shipments WHERE pieces = 17',
  char: "SELECT id FROM shipments WHERE country = 'DEU' AND pieces < 3",
  function: "SELECT id FROM shipments WHERE lower(carrier) = 'carrier 17'",
  conversion: "SELECT id FROM shipments WHERE pieces::text = '17'",
  useless: "SELECT id FROM shipments WHERE note = 'note 17' AND country <> 'XYZ'",
};

describe('index advice on domain-typed columns', () => {
  let report: Report;
  const queryOf = (sql: string): QueryReport => report.queries.find((q) => q.source?.endsWith(`:${line(sql)}`))!;
  const line = (sql: string) => Object.values(STATEMENTS).indexOf(sql) * 2 + 1;
  const scanFinding = (sql: string): Finding => queryOf(sql).findings.find((f) => f.rule === 'seq-scan-large-table')!;
  const candidateKeys = (sql: string) =>
    generateCandidates(queryOf(sql), scanFinding(sql), report, { trigram: false }).map((c) => c.keys.join(', '));

  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('domains', SCHEMA, Object.values(STATEMENTS).join(';\n\n') + ';\n', {
      allowIndexBuild: true,
    });
  });

  it('reports each domain column with its base type', () => {
    const relation = report.relations.find((r) => r.name === 'public.shipments')!;
    expect(relation.domainBaseTypes).toEqual({
      country: 'bpchar',
      carrier: 'text',
      contact: 'varchar',
      pieces: 'int4',
    });
    expect(relation.columnTypes).toMatchObject({ country: 'code', pieces: 'small_qty' });
  });

  it('proposes plain column indexes for comparisons on the column itself, validated on the planner', () => {
    // The plans cast each column to its base type; the advice does not.
    expect(scanFinding(STATEMENTS.char).nodePath).toBeDefined();
    expect(JSON.stringify(queryOf(STATEMENTS.char).plan)).toContain('(country)::bpchar');
    expect(JSON.stringify(queryOf(STATEMENTS.int).plan)).toContain('(pieces)::integer');
    const advice = (sql: string) => scanFinding(sql).advice;
    expect(advice(STATEMENTS.text)?.sql).toBe(
      'CREATE INDEX CONCURRENTLY shipments_carrier_idx ON public.shipments (carrier);',
    );
    expect(advice(STATEMENTS.varchar)?.sql).toBe(
      'CREATE INDEX CONCURRENTLY shipments_contact_idx ON public.shipments (contact);',
    );
    expect(advice(STATEMENTS.int)?.sql).toBe(
      'CREATE INDEX CONCURRENTLY shipments_pieces_idx ON public.shipments (pieces);',
    );
    // Equality on country, then the range on pieces.
    expect(advice(STATEMENTS.char)?.sql).toBe(
      'CREATE INDEX CONCURRENTLY shipments_country_pieces_idx ON public.shipments (country, pieces);',
    );
    for (const sql of [STATEMENTS.text, STATEMENTS.varchar, STATEMENTS.int, STATEMENTS.char]) {
      expect(advice(sql)!.costAfter).toBeLessThan(advice(sql)!.costBefore / 2);
      expect(candidateKeys(sql).join(' | ')).not.toContain('::');
    }
  });

  it('keeps an expression index for a function of the column, without the cast', () => {
    expect(JSON.stringify(queryOf(STATEMENTS.function).plan)).toContain('lower((carrier)::text)');
    expect(scanFinding(STATEMENTS.function).advice?.sql).toBe(
      'CREATE INDEX CONCURRENTLY shipments_lower_carrier_idx ON public.shipments ((lower(carrier)));',
    );
  });

  it('keeps an expression index for a cast that converts the values', () => {
    expect(candidateKeys(STATEMENTS.conversion)).toEqual(['((pieces)::text)']);
  });

  it('proposes nothing on a domain column the filter does not narrow with', () => {
    // `country <> 'XYZ'` keeps every row: the index is on the note alone.
    expect(candidateKeys(STATEMENTS.useless)).toEqual(['note']);
  });
});
