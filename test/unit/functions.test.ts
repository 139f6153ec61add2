import { beforeAll, describe, expect, it } from 'vitest';
import {
  linkFunctions,
  nestedFingerprint,
  readFunctionBody,
  reachedFunctions,
  type FunctionBody,
  type FunctionSource,
  type TriggerSource,
} from '../../src/analyze/functions.js';
import { expressionAsStatement, fingerprintStatement, loadParser } from '../../src/analyze/parser.js';
import { columnRefToParam, renumberParams } from '../../src/analyze/sql-tree.js';
import type { QueryReport } from '../../src/model/report.js';

// The bodies are read once the parser is loaded.
let bodies: FunctionBody[] = [];
beforeAll(async () => {
  await loadParser();
  bodies = [VALUE, TOUCH, AUDIT].map(readFunctionBody);
});

const plpgsql = (oid: number, name: string, body: string, args = ''): FunctionSource => ({
  oid,
  schema: 'app',
  name,
  language: 'plpgsql',
  definition: `CREATE OR REPLACE FUNCTION app.${name}(${args}) RETURNS numeric LANGUAGE plpgsql AS $function$\n${body}\n$function$`,
  source: body,
  parameters: args ? args.split(', ').map((a) => ({ name: a.split(' ')[0]!, type: a.split(' ')[1]! })) : [],
});

const VALUE = plpgsql(
  1,
  'customer_value',
  `DECLARE v numeric; n int;
BEGIN
  SELECT sum(amount) INTO v FROM app.sales WHERE customer_id = p_id AND status = 'paid';
  IF EXISTS (SELECT 1 FROM app.refunds WHERE customer_id = p_id) THEN v := v - 1; END IF;
  n := (SELECT count(*) FROM app.sales WHERE customer_id = customer_value.p_id);
  PERFORM app.touch(p_id);
  RETURN v;
END`,
  'p_id integer',
);
const TOUCH = plpgsql(
  2,
  'touch',
  `BEGIN UPDATE app.customers SET seen = now() WHERE id = p; RETURN 0; END`,
  'p integer',
);
const AUDIT = plpgsql(3, 'audit', `BEGIN INSERT INTO app.log (customer_id) VALUES (NEW.id); RETURN NEW; END`);
const TRIGGER: TriggerSource = {
  name: 'customers_audit',
  schema: 'app',
  table: 'customers',
  events: ['update'],
  functionOid: 3,
  columns: { id: 'integer', seen: 'timestamp with time zone' },
};

describe('reading a function body', () => {
  it("finds a PL/pgSQL function's statements as pg_stat_statements records them, and its variables' types", () => {
    const body = bodies[0]!;
    // Recorded texts: INTO left out, constants as $n, an IF's expression and an assignment's as they are.
    for (const recorded of [
      'SELECT sum(amount)        FROM app.sales WHERE customer_id = p_id AND status = $2',
      'EXISTS (SELECT $2 FROM app.refunds WHERE customer_id = p_id)',
      'n := (SELECT count(*) FROM app.sales WHERE customer_id = customer_value.p_id)',
      'SELECT app.touch(p_id)',
    ])
      expect(body.statements.has(nestedFingerprint(recorded)), recorded).toBe(true);
    expect(Object.fromEntries(body.types)).toMatchObject({
      p_id: 'integer',
      'customer_value.p_id': 'integer',
      v: 'numeric',
      n: 'int',
    });
    expect(body.calls).toContainEqual({ schema: 'app', name: 'touch' });
  });

  it('reads a SQL function statement by statement', () => {
    const body = readFunctionBody({
      oid: 9,
      schema: 'app',
      name: 'counts',
      language: 'sql',
      definition: '',
      source: 'SELECT 1; SELECT count(*) FROM app.sales WHERE customer_id = $1',
      parameters: [{ name: '', type: 'integer' }],
    });
    expect(body.statements.has(fingerprintStatement('SELECT count(*) FROM app.sales WHERE customer_id = $1'))).toBe(
      true,
    );
    expect(body.statements.size).toBe(2);
  });
});

describe('the functions a statement runs', () => {
  it('follows calls, calls of calls, and the triggers of the tables they write', () => {
    const reached = reachedFunctions('SELECT app.customer_value($1)', bodies, [TRIGGER]);
    expect(reached.map((r) => [r.body.fn.name, r.via])).toEqual([
      ['customer_value', undefined],
      ['touch', 'app.customer_value()'],
      ['audit', 'trigger customers_audit on app.customers'],
    ]);
    // A trigger fires for its events only; a built-in is no function of the database.
    expect(reachedFunctions('INSERT INTO app.customers (id) VALUES ($1)', bodies, [TRIGGER])).toEqual([]);
    expect(reachedFunctions('SELECT count(*) FROM app.sales', bodies, [TRIGGER])).toEqual([]);
  });

  it('links each nested statement to its function and its callers, with the types of its variables', () => {
    const query = (text: string, nested: boolean): QueryReport =>
      ({
        fingerprint: nested ? nestedFingerprint(text) : fingerprintStatement(text),
        query: text,
        ...(nested ? { nested: { functions: [], callers: [] } } : {}),
      }) as unknown as QueryReport;
    const caller = query('SELECT app.customer_value($1)', false);
    const other = query('SELECT 1', false);
    const update = query('UPDATE app.customers SET seen = now() WHERE id = p', true);
    const insert = query('INSERT INTO app.log (customer_id) VALUES (NEW.id)', true);
    const dynamic = query('SELECT * FROM app.built_at_run_time', true);
    const { queries, types } = linkFunctions([caller, other, update, insert, dynamic], bodies, [TRIGGER]);
    expect(queries[0]!.functions?.map((f) => f.name)).toEqual(['app.customer_value', 'app.touch', 'app.audit']);
    expect(queries[1]!.functions).toBeUndefined();
    expect(queries[2]!.nested).toEqual({ functions: ['app.touch'], callers: [caller.fingerprint] });
    expect(queries[3]!.nested).toEqual({ functions: ['app.audit'], callers: [caller.fingerprint] });
    expect(queries[4]!.nested).toEqual({ functions: [], callers: [] });
    expect(types.get(update.fingerprint)?.get('p')).toBe('integer');
    expect(types.get(insert.fingerprint)?.get('new.id')).toBe('integer');
  });
});

describe('making a nested statement explainable', () => {
  it('reads an expression or an assignment as the SELECT PL/pgSQL runs', () => {
    expect(expressionAsStatement('EXISTS (SELECT $2 FROM t WHERE a = p)')).toBe(
      'SELECT EXISTS (SELECT $2 FROM t WHERE a = p)',
    );
    expect(expressionAsStatement('r.total[1] := (SELECT max(x) FROM t)')).toBe('SELECT (SELECT max(x) FROM t)');
    expect(expressionAsStatement('SELECT 1')).toBeUndefined();
  });

  it('numbers parameters from $1 without gaps', () => {
    expect(renumberParams('SELECT a FROM t WHERE b = p_id AND c = $2 AND d IN ($5, $2)')).toEqual({
      sql: 'SELECT a FROM t WHERE b = p_id AND c = $1 AND d IN ($2, $1)',
      count: 2,
    });
  });

  it('turns a variable into a parameter, every reference to it, cast when its type is known', () => {
    const sql = 'SELECT a FROM t WHERE b = customer_value.p_id AND c > NEW.amount * $1 AND d = customer_value.p_id';
    const at = Buffer.byteLength(sql.slice(0, sql.indexOf('customer_value')));
    expect(columnRefToParam(sql, at, 1, (names) => (names[1] === 'p_id' ? 'integer' : undefined))).toEqual({
      sql: 'SELECT a FROM t WHERE b = $2::integer AND c > NEW.amount * $1 AND d = $2::integer',
      names: ['customer_value', 'p_id'],
    });
    const next = sql.indexOf('NEW');
    expect(columnRefToParam(sql, next, 1, () => undefined)?.sql).toContain('c > $2 * $1');
    expect(columnRefToParam(sql, next - 2, 1, () => undefined)).toBeUndefined();
  });
});
