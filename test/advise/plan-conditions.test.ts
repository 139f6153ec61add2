import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { bareConditionColumns, parseCondition, parseSortKey } from '../../src/analyze/plan-conditions.js';

// Conditions as PostgreSQL 18's EXPLAIN prints them (copied from real plans).
beforeAll(loadParser);

describe('parseCondition', () => {
  it.each([
    ["(status = 'refunded'::text)", [{ kind: 'column', column: { column: 'status' }, operator: 'eq' }]],
    ['(user_id = 17)', [{ kind: 'column', column: { column: 'user_id' }, operator: 'eq' }]],
    ['(17 = user_id)', [{ kind: 'column', column: { column: 'user_id' }, operator: 'eq' }]],
    [
      "(created_at >= '2024-01-01 00:00:00'::timestamp without time zone)",
      [{ kind: 'column', column: { column: 'created_at' }, operator: 'range' }],
    ],
    ["(id = ANY ('{1,2,3}'::integer[]))", [{ kind: 'column', column: { column: 'id' }, operator: 'in' }]],
    ['(deleted_at IS NULL)', [{ kind: 'column', column: { column: 'deleted_at' }, operator: 'null' }]],
    ['(deleted_at IS NOT NULL)', [{ kind: 'opaque' }]],
    ['active', [{ kind: 'column', column: { column: 'active' }, operator: 'eq' }]],
    [
      "((email)::text = 'a@b.c'::text)",
      [{ kind: 'column', column: { column: 'email', castTo: 'text' }, operator: 'eq' }],
    ],
    [
      '(e.user_id = u.id)',
      [{ kind: 'join', left: { qualifier: 'e', column: 'user_id' }, right: { qualifier: 'u', column: 'id' } }],
    ],
    [
      '(id = o.customer_id)',
      [{ kind: 'join', left: { column: 'id' }, right: { qualifier: 'o', column: 'customer_id' } }],
    ],
    ["(kind <> 'x'::text)", [{ kind: 'opaque' }]],
    [
      `(attributes @> '{"brand": "brand42"}'::jsonb)`,
      [{ kind: 'containment', column: { column: 'attributes' }, operator: '@>', valueType: 'jsonb' }],
    ],
    [
      "(tags && '{clearance}'::text[])",
      [{ kind: 'containment', column: { column: 'tags' }, operator: '&&', valueType: 'text[]' }],
    ],
    // `&&` is symmetric: the column may be on either side.
    [
      "('{clearance}'::text[] && p.tags)",
      [{ kind: 'containment', column: { qualifier: 'p', column: 'tags' }, operator: '&&', valueType: 'text[]' }],
    ],
    [
      "(attributes ? 'recalled'::text)",
      [{ kind: 'containment', column: { column: 'attributes' }, operator: '?', valueType: 'text' }],
    ],
    ['(\'{"a": 1}\'::jsonb <@ attributes)', [{ kind: 'opaque' }]],
    [
      "((kind = 'a'::text) OR (lower(email) = 'b'::text))",
      [
        {
          kind: 'or',
          alternatives: [
            [{ kind: 'column', column: { column: 'kind' }, operator: 'eq' }],
            [
              {
                kind: 'expression',
                expression: { sql: 'lower(email)', columns: [{ column: 'email' }], nameParts: ['lower', 'email'] },
                operator: 'eq',
              },
            ],
          ],
        },
      ],
    ],
    ['(SubPlan 1)', [{ kind: 'opaque' }]],
  ])('%s', (text, expected) => {
    expect(parseCondition(text)).toEqual(expected);
  });

  it('splits AND-ed conditions and keeps the constants of function predicates', () => {
    const predicates = parseCondition(
      "((status = 'refunded'::text) AND (date_trunc('day'::text, created_at) = date_trunc('day'::text, (now() - '234 days'::interval))))",
    );
    expect(predicates).toHaveLength(2);
    expect(predicates[0]).toEqual({ kind: 'column', column: { column: 'status' }, operator: 'eq' });
    expect(predicates[1]).toMatchObject({
      kind: 'expression',
      operator: 'eq',
      expression: {
        sql: "date_trunc('day'::text, created_at)",
        columns: [{ column: 'created_at' }],
        nameParts: ['date_trunc', 'created_at'],
      },
    });
  });

  it('renders expressions without qualifiers, casts included, ready for CREATE INDEX', () => {
    expect(parseCondition("(lower(c.email) = 'x'::text)")[0]).toMatchObject({ expression: { sql: 'lower(email)' } });
    expect(parseCondition("((created_at)::date = '2024-01-01'::date)")[0]).toMatchObject({
      expression: { sql: '(created_at)::date', nameParts: ['created_at', 'date'] },
    });
    expect(parseCondition('(COALESCE(parent_id, 0) = 5)')[0]).toMatchObject({
      expression: { sql: 'COALESCE(parent_id, 0)' },
    });
    expect(parseCondition('((amount * 2) > 10)')[0]).toMatchObject({
      operator: 'range',
      expression: { sql: '(amount * 2)' },
    });
    expect(parseCondition('("Order" = 1)')[0]).toEqual({ kind: 'column', column: { column: 'Order' }, operator: 'eq' });
  });

  it('does not offer an expression that mixes relations or reads a subquery', () => {
    expect(parseCondition('((a.x + b.y) = 3)')).toEqual([{ kind: 'opaque' }]);
    expect(parseCondition('(lower(email) = (SELECT 1))')).toEqual([{ kind: 'opaque' }]);
  });

  it('classifies LIKE and ILIKE by where the wildcard is', () => {
    expect(parseCondition("(email ~~ '%ser4711%'::text)")).toEqual([
      {
        kind: 'pattern',
        column: { column: 'email' },
        caseInsensitive: false,
        pattern: '%ser4711%',
        leadingWildcard: true,
      },
    ]);
    expect(parseCondition("((name)::text ~~* 'bob%'::text)")).toEqual([
      {
        kind: 'pattern',
        column: { column: 'name', castTo: 'text' },
        caseInsensitive: true,
        pattern: 'bob%',
        leadingWildcard: false,
      },
    ]);
    expect(parseCondition("(lower(name) ~~ '%bob'::text)")[0]).toMatchObject({
      kind: 'pattern',
      expression: { sql: 'lower(name)' },
      leadingWildcard: true,
    });
    expect(parseCondition('(email ~~ $1)')).toEqual([
      { kind: 'pattern', column: { column: 'email' }, caseInsensitive: false },
    ]);
    expect(parseCondition("(email !~~ '%x'::text)")).toEqual([{ kind: 'opaque' }]);
    // A pattern computed at run time: its leading part decides, and an unknown one may be `%`.
    const leads = (text: string) => (parseCondition(text)[0] as { leadingWildcard?: boolean }).leadingWildcard;
    expect(leads("(notiz ~~ (('%'::text || $1) || '%'::text))")).toBe(true);
    expect(leads('(notiz ~~ (($1 || ($3)::text) || $2))')).toBe(true);
    expect(leads("(notiz ~~ (($1)::text || '%'::text))")).toBe(true);
    expect(leads("(notiz ~~ concat(''::text, '%', $1))")).toBe(true);
    expect(leads("(notiz ~~ (('Kunde '::text || $1) || '%'::text))")).toBe(false);
    expect(leads("(notiz ~~ ((''::text || 'ab'::text) || $1))")).toBe(false);
  });
});

describe('parseCondition on domain-typed columns', () => {
  // Conditions as EXPLAIN prints them for columns of domains over char(3), varchar(80) and integer.
  const bases: Readonly<Record<string, string>> = { country: 'bpchar', contact: 'varchar', pieces: 'int4' };
  const baseOf = (c: { readonly column: string }) => bases[c.column];

  it('reads a cast to the base type as the column itself', () => {
    expect(parseCondition("((country)::bpchar = 'DEU'::bpchar)", baseOf)).toEqual([
      { kind: 'column', column: { column: 'country' }, operator: 'eq' },
    ]);
    expect(parseCondition('((pieces)::integer < 3)', baseOf)).toEqual([
      { kind: 'column', column: { column: 'pieces' }, operator: 'range' },
    ]);
    expect(parseCondition("((pieces)::integer = ANY ('{1,2}'::integer[]))", baseOf)).toEqual([
      { kind: 'column', column: { column: 'pieces' }, operator: 'in' },
    ]);
    // varchar to text only relabels.
    expect(parseCondition("((contact)::text = 'a@example.com'::text)", baseOf)).toEqual([
      { kind: 'column', column: { column: 'contact' }, operator: 'eq' },
    ]);
    expect(parseCondition("(lower((contact)::text) = 'a'::text)", baseOf)[0]).toMatchObject({
      kind: 'expression',
      expression: { sql: 'lower(contact)', nameParts: ['lower', 'contact'] },
    });
  });

  it('reads a join of two domain-typed columns as a join', () => {
    expect(parseCondition('((a.pieces)::integer = (s.pieces)::integer)', baseOf)).toEqual([
      { kind: 'join', left: { qualifier: 'a', column: 'pieces' }, right: { qualifier: 's', column: 'pieces' } },
    ]);
  });

  it('keeps a cast that converts, and the casts of other columns', () => {
    // char(3) to text trims the padding: a conversion.
    expect(parseCondition("((country)::text = 'DEU'::text)", baseOf)).toEqual([
      { kind: 'column', column: { column: 'country', castTo: 'text' }, operator: 'eq' },
    ]);
    expect(parseCondition("((pieces)::text = '3'::text)", baseOf)).toEqual([
      { kind: 'column', column: { column: 'pieces', castTo: 'text' }, operator: 'eq' },
    ]);
    expect(parseCondition("((created_at)::date = '2024-01-01'::date)", baseOf)[0]).toMatchObject({
      kind: 'expression',
      expression: { sql: '(created_at)::date' },
    });
    // Without the column types, the cast is all there is.
    expect(parseCondition('((pieces)::integer = 3)')[0]).toMatchObject({
      kind: 'expression',
      expression: { sql: '(pieces)::int4' },
    });
  });
});

describe('parseSortKey', () => {
  it('reads a column, its direction and expressions', () => {
    expect(parseSortKey('o.total_cents DESC')).toEqual({
      column: { qualifier: 'o', column: 'total_cents' },
      descending: true,
    });
    expect(parseSortKey('created_at')).toEqual({ column: { column: 'created_at' }, descending: false });
    expect(parseSortKey('(lower(name))')).toMatchObject({ expression: { sql: 'lower(name)' }, descending: false });
    expect(parseSortKey('(count(*)) DESC')).toBeUndefined();
    expect(parseSortKey('amount DESC NULLS LAST')).toEqual({
      column: { column: 'amount' },
      descending: true,
      nulls: 'last',
    });
    expect(parseSortKey("((((price_cents)::numeric * 1.2) + '100'::numeric))")).toMatchObject({
      expression: { sql: "(((price_cents)::numeric * 1.2) + '100'::numeric)", nameParts: ['price_cents', 'numeric'] },
    });
  });
});

describe('full-text search and the columns statistics can describe', () => {
  it('reads a full-text search on a tsvector column or on the expression that computes the document', () => {
    expect(parseCondition("(search @@ '''silk'' & ''lamp'''::tsquery)")).toEqual([
      { kind: 'textSearch', column: { column: 'search' } },
    ]);
    expect(
      parseCondition(
        "(to_tsvector('english'::regconfig, ((name || ' '::text) || description)) @@ '''silk'' & ''lamp'''::tsquery)",
      ),
    ).toMatchObject([
      {
        kind: 'textSearch',
        expression: {
          sql: "to_tsvector('english'::regconfig, ((name || ' '::text) || description))",
          nameParts: ['to_tsvector', 'name', 'description'],
        },
      },
    ]);
    // The query on the left: the operator commutes.
    expect(parseCondition("('''silk'''::tsquery @@ p.search)")).toEqual([
      { kind: 'textSearch', column: { qualifier: 'p', column: 'search' } },
    ]);
  });

  it('names the columns a condition compares as they are, not those inside a function or a computation', () => {
    const names = (text: string) => bareConditionColumns(text).map((c) => c.column);
    expect(names("((a <> 1) OR (b IS NULL) OR ((c)::text = 'x'::text))")).toEqual(['a', 'b', 'c']);
    expect(
      names("(to_tsvector('english'::regconfig, ((name || ' '::text) || description)) @@ '''x'''::tsquery)"),
    ).toEqual([]);
    expect(names('(((a + b) <> c) AND (NOT flag))')).toEqual(['c', 'flag']);
  });
});
