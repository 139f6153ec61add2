import { beforeAll, describe, expect, it } from 'vitest';
import {
  castTypedParams,
  fingerprintStatement,
  isWrite,
  loadParser,
  splitStatements,
  splitStatementsRecovering,
  statementKind,
  unwrapPrepare,
} from '../../src/analyze/parser.js';
import { InputError } from '../../src/errors.js';

beforeAll(loadParser);

describe('the SQL parser adapter', () => {
  it('splits on semicolons outside strings, dollar quotes and comments, with line numbers', () => {
    const sql = "SELECT 'a;b';\n-- c; d\nSELECT $$x;y$$;\n\n/* e; */ UPDATE t SET a = 1;";
    const statements = splitStatements(sql, 'w.sql');
    // Lines are those of each statement's first token; preceding comments stay with the statement.
    expect(statements.map((s) => s.line)).toEqual([1, 3, 5]);
    expect(statements[1]!.sql).toBe('-- c; d\nSELECT $$x;y$$');
    expect(statements[2]!.sql).toBe('/* e; */ UPDATE t SET a = 1');
  });

  it('skips empty statements (;;), as PostgreSQL does, keeping the comments before the next one', () => {
    const sql = 'SELECT 1;;\n;\n/* ; */ ;\n-- keep\nSELECT 2;\n  ;;/* ü */;\nSELECT 3';
    const statements = splitStatements(sql, 'w.sql');
    expect(statements.map((s) => s.sql)).toEqual(['SELECT 1', '-- keep\nSELECT 2', 'SELECT 3']);
    expect(statements.map((s) => s.line)).toEqual([1, 5, 7]);
    expect(statements.map((s) => s.start)).toEqual([
      { line: 1, column: 1 },
      { line: 4, column: 1 },
      { line: 7, column: 1 },
    ]);
  });

  it('reports invalid SQL with file:line:column and a caret', () => {
    try {
      splitStatements('SELECT 1;\nSELECT * FORM t;', 'w.sql');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).message).toBe('w.sql:2:10: invalid SQL: syntax error at or near "FORM"');
      expect((error as InputError).details[1]).toMatch(/^\s+\|\s{10}\^$/);
    }
  });

  it('places an error at the end of the input right after the text, not past the blank lines that end it', () => {
    const errorOf = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return error as InputError;
      }
      throw new Error('expected an error');
    };
    const file = errorOf(() =>
      splitStatements('SELECT 1;\nSELECT count(*)\n  FROM t\n GROUP BY ROLLUP (a\n\n\n', 'w.sql'),
    );
    expect(file.message).toBe('w.sql:4:20: invalid SQL: syntax error at end of input');
    expect(file.details).toEqual(['  4 |  GROUP BY ROLLUP (a', `    | ${' '.repeat(19)}^`]);
    // A scenario's `sql: |` block ends with a newline: the error was put on the next item's line.
    const block = errorOf(() =>
      splitStatements('SELECT store_id\n  FROM sales\n GROUP BY ROLLUP (store_id\n', {
        file: 's.yaml',
        field: 'statements[0].sql',
        origin: { line: 9, column: 7, indent: 6 },
      }),
    );
    expect(block.message).toBe('s.yaml:11:33: statements[0].sql: invalid SQL: syntax error at end of input');
    expect(block.details[0]).toBe('  11 |  GROUP BY ROLLUP (store_id');
  });

  it('says that a psql meta-command or the inline data of COPY FROM STDIN is not SQL, at its line', () => {
    const messageOf = (sql: string, where = 'setup.sql') => {
      try {
        splitStatements(sql, where);
      } catch (error) {
        return (error as InputError).message;
      }
      throw new Error('expected an error');
    };
    expect(messageOf('\\set ON_ERROR_STOP on\nCREATE TABLE t (id int);\n')).toBe(
      'setup.sql:1:1: psql meta-command \\set is not SQL: querygate runs SQL files through the server, not psql; remove it',
    );
    expect(messageOf('CREATE TABLE t (id int);\n  \\connect other\n')).toBe(
      'setup.sql:2:3: psql meta-command \\connect is not SQL: querygate runs SQL files through the server, not psql; remove it',
    );
    const dump =
      'CREATE TABLE members (id int, name text);\n\nCOPY members (id, name) FROM STDIN;\n1\tann\n2\tbob\n\\.\n';
    expect(messageOf(dump)).toBe(
      'setup.sql:3:1: COPY ... FROM STDIN with inline data is not supported: use INSERT, or COPY FROM a file the server can read',
    );
    expect(messageOf('COPY members FROM stdin;\n\\.\n')).toMatch(
      /^setup\.sql:1:1: COPY \.\.\. FROM STDIN with inline data/,
    );
    // An ordinary syntax error is still one.
    expect(messageOf('SELECT 1;\nSELEC 2;\n')).toBe('setup.sql:2:1: invalid SQL: syntax error at or near "SELEC"');
  });

  it('splits a file past its syntax errors: every error, and every statement before, between and after them, at their places', () => {
    const sql = [
      'SELECT 1;',
      "SELECT 'é' FROM t WHER x = ';'; SELECT 2;",
      '\\set x 1',
      '-- kept with its statement',
      'SELECT 3;',
      'SELECT (4;',
      'SELECT 5;',
      '',
    ].join('\n');
    const { statements, errors } = splitStatementsRecovering(sql, 'w.sql');
    expect(statements.map((s) => [s.line, s.column, s.sql])).toEqual([
      [1, 1, 'SELECT 1'],
      [2, 33, 'SELECT 2'],
      [5, 1, '-- kept with its statement\nSELECT 3'],
      [7, 1, 'SELECT 5'],
    ]);
    expect(errors.map((e) => [e.line, e.column, e.error.message])).toEqual([
      [2, 24, 'w.sql:2:24: invalid SQL: syntax error at or near "x"'],
      [
        3,
        1,
        'w.sql:3:1: psql meta-command \\set is not SQL: querygate runs SQL files through the server, not psql; remove it',
      ],
      [6, 10, 'w.sql:6:10: invalid SQL: syntax error at or near ";"'],
    ]);
    // The caret line is the file's, as written.
    expect(errors[0]!.error.details[0]).toBe("  2 | SELECT 'é' FROM t WHER x = ';'; SELECT 2;");
    // An unterminated string runs to the end of the file: what comes before it is still split.
    const open = splitStatementsRecovering("SELECT 1;\nSELECT 'open;\nSELECT 2;\n", 'w.sql');
    expect(open.statements.map((s) => s.sql)).toEqual(['SELECT 1']);
    expect(open.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/^w\.sql:2:8: invalid SQL: unterminated quoted string/),
    ]);
    // So do the data rows of a COPY FROM STDIN.
    const copy = splitStatementsRecovering('SELECT 1;\nCOPY t FROM STDIN;\n1;2\n\\.\nSELECT 2;\n', 'w.sql');
    expect(copy.statements.map((s) => s.sql)).toEqual(['SELECT 1']);
    expect(copy.errors.map((e) => [e.line, e.copy])).toEqual([[2, true]]);
  });

  it('places the caret under the error on a terminal, where CJK characters are two cells wide', () => {
    try {
      splitStatements("SELECT '東京' FORM t;", 'w.sql');
      expect.unreachable();
    } catch (error) {
      const [source, caret] = (error as InputError).details;
      expect((error as InputError).message).toBe('w.sql:1:18: invalid SQL: syntax error at or near "t"');
      // Before the `t`: 17 characters, 2 of them two cells wide.
      expect(source).toBe("  1 | SELECT '東京' FORM t;");
      expect(caret).toBe(`    | ${' '.repeat(19)}^`);
    }
  });

  it('parses statements PostgreSQL 10 grammars cannot (MERGE, FETCH ... WITH TIES)', () => {
    expect(statementKind('MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a')).toBe('merge');
    expect(statementKind('SELECT * FROM t ORDER BY a FETCH FIRST 3 ROWS WITH TIES')).toBe('select');
  });

  it('fingerprints ignore constants and IN-list length but not structure', () => {
    expect(fingerprintStatement('SELECT * FROM t WHERE a IN (1, 2)')).toBe(
      fingerprintStatement('SELECT * FROM t WHERE a IN ($1, $2, $3)'),
    );
    expect(fingerprintStatement('SELECT * FROM t WHERE a = 1')).not.toBe(
      fingerprintStatement('SELECT * FROM t WHERE b = 1'),
    );
  });

  it('detects writes, including data-modifying CTEs', () => {
    expect(isWrite('SELECT 1')).toBe(false);
    expect(isWrite('DELETE FROM t')).toBe(true);
    expect(isWrite('WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d')).toBe(true);
  });

  it('unwraps PREPARE to the prepared statement', () => {
    expect(unwrapPrepare('PREPARE p (int) AS SELECT * FROM t WHERE a = $1')).toBe('SELECT * FROM t WHERE a = $1');
    expect(unwrapPrepare('SELECT 1')).toBe('SELECT 1');
  });

  it('turns typed literals that pg_stat_statements parameterized into casts the server accepts', () => {
    expect(castTypedParams('SELECT * FROM t WHERE at > now() - interval $1 AND d = date $2')).toBe(
      'SELECT * FROM t WHERE at > now() - $1::interval AND d = $2::date',
    );
    expect(castTypedParams('SELECT timestamp with time zone $1')).toBe('SELECT $1::timestamp with time zone');
    // Casts already in the $n::type form are left alone.
    expect(castTypedParams('SELECT $1::interval')).toBe('SELECT $1::interval');
  });
});

describe('index proposals of rules', () => {
  it('quote the relation and the columns, so that they run as printed', async () => {
    const { proposeIndexSql } = await import('../../src/analyze/column-predicates.js');
    const { quoteIdentifier, tryParse } = await import('../../src/analyze/parser.js');
    const sql = proposeIndexSql('Sales.Order Items', ['order', 'createdAt', 'größe'].map(quoteIdentifier));
    expect(sql).toBe(
      'CREATE INDEX ON "Sales"."Order Items" ("order", "createdAt", "größe"); -- not validated on the planner',
    );
    expect(tryParse(sql)?.stmts?.[0]?.stmt).toHaveProperty('IndexStmt');
    expect(proposeIndexSql('public.orders', ['status'])).toMatch(/^CREATE INDEX ON public\.orders \(status\);/);
  });
});
