import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caretLinesInFile, loadParser, positionInFile } from '../../src/analyze/parser.js';
import type { InputError } from '../../src/errors.js';
import { createRandom, createValueSources, createWeightedPicker } from '../../src/workload/generators.js';
import { loadScenario, loadSqlWorkload } from '../../src/workload/load.js';
import { scalarOrigin } from '../../src/config/yaml.js';
import { parseDocument } from 'yaml';
import { split } from '../../src/workload/replay.js';

beforeAll(loadParser);
const dir = mkdtempSync(join(tmpdir(), 'querygate-scenario-'));
// Messages name a file relative to the working directory: run from the files' own.
const cwd = process.cwd();
beforeAll(() => process.chdir(dir));
afterAll(() => process.chdir(cwd));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const errorOf = (fn: () => unknown): InputError => {
  try {
    fn();
  } catch (error) {
    return error as InputError;
  }
  throw new Error('expected an error');
};

describe('scenario files', () => {
  it('reads the role and settings to plan as, every value as text', () => {
    const path = write(
      'explain.yaml',
      "explain:\n  role: billing_app\n  settings: { app.tenant: 2, app.strict: true, work_mem: '64MB' }\nstatements:\n  - sql: SELECT 1\n",
    );
    expect(loadScenario(path, {}).explain).toEqual({
      role: 'billing_app',
      settings: { 'app.tenant': '2', 'app.strict': 'true', work_mem: '64MB' },
    });
    const wrong = write('explain-wrong.yaml', 'explain:\n  roles: x\nstatements:\n  - sql: SELECT 1\n');
    expect(errorOf(() => loadScenario(wrong, {})).message).toContain('roles: unknown field');
  });

  it('loads statements, generators and load settings; flags replace file values', () => {
    const path = write(
      'ok.yaml',
      'load:\n  connections: 3\n  duration: 2s\n  warmup: 500ms\nstatements:\n  - sql: SELECT $1::int\n    params:\n      - int: { min: 1, max: 5 }\n',
    );
    const w = loadScenario(path, {});
    expect(w.load).toEqual({
      connections: 3,
      shape: { kind: 'duration', durationMs: 2000 },
      warmupMs: 500,
      rounds: 3,
      statementTimeoutMs: 60_000,
    });
    expect(w.statements[0]!.paramCount).toBe(1);
    expect(loadScenario(path, { connections: 8, repeat: 2 }).load.shape).toEqual({ kind: 'repeat', repeat: 2 });
  });

  it('gives each statement the line of its sql, in every YAML string style', () => {
    const path = write(
      'styles.yaml',
      [
        'statements:',
        '  - name: plain',
        '    sql: SELECT 1',
        '  - name: literal',
        '    sql: |',
        '      SELECT 2',
        '  - name: folded',
        '    sql: >-',
        '      SELECT 3',
        '      FROM generate_series(1, 2)',
        '  - name: quoted',
        '    sql: "SELECT',
        '      4"',
        '',
      ].join('\n'),
    );
    expect(loadScenario(path, {}).statements.map((s) => [s.name, s.line])).toEqual([
      ['plain', 3],
      ['literal', 6],
      // Folded and multi-line quoted strings: the line their text begins on, as a literal block's.
      ['folded', 9],
      ['quoted', 12],
    ]);
  });

  it('names the field and line of each problem', () => {
    const path = write('bad.yaml', 'statements:\n  - sql: SELECT 1\n    weight: -1\n  - name: x\n');
    const error = errorOf(() => loadScenario(path, {}));
    expect(error.code).toBe('SCENARIO_INVALID');
    expect([error.message, ...error.details]).toEqual([
      'bad.yaml:3:13: statements[0].weight: must be > 0',
      'bad.yaml:4:5: statements[1].sql: is required',
    ]);
  });

  it('gives one message for a misspelt field, with the field it likely meant, and none for what it leaves missing', () => {
    const typo = write('typo.yaml', 'statments:\n  - sql: SELECT 1\n');
    const error = errorOf(() => loadScenario(typo, {}));
    expect([error.message, ...error.details]).toEqual([
      'typo.yaml:1:1: statments: unknown field: did you mean statements? (known: name, description, setup, load, statements, http, explain)',
    ]);
    const params = write(
      'params.yaml',
      'statements:\n  - sql: SELECT $1::int\n    parms:\n      - int: { min: 1, max: 5 }\n',
    );
    const paramsError = errorOf(() => loadScenario(params, {}));
    expect([paramsError.message, ...paramsError.details]).toEqual([
      'params.yaml:3:5: statements[0].parms: unknown field: did you mean params? (known: name, sql, weight, params)',
    ]);
  });

  it('lists problems in file order', () => {
    const path = write(
      'order.yaml',
      'load:\n  repeat: 0\n  connections: 0\nstatements:\n  - sql: SELECT 1\n    wieght: 2\n',
    );
    const error = errorOf(() => loadScenario(path, {}));
    expect([error.message, ...error.details].map((line) => line.split(': ')[0])).toEqual([
      'order.yaml:2:11',
      'order.yaml:3:16',
      'order.yaml:6:5',
    ]);
  });

  it('says an empty or comment-only scenario file is empty', () => {
    for (const text of ['', '# to do\n']) {
      const error = errorOf(() => loadScenario(write('empty.yaml', text), {}));
      expect(error.code).toBe('SCENARIO_INVALID');
      expect(error.message).toMatch(/^empty\.yaml: the scenario file is empty: /);
    }
  });

  it('places invalid SQL of a statement at its line and column in the scenario file', () => {
    const block = write(
      'block.yaml',
      'statements:\n  - name: ok\n    sql: SELECT 1\n  - name: broken\n    sql: |\n      SELECT *\n        FROM t\n       WHERE id = $1 AND AND x = 2\n    params: [{ value: 1 }]\n',
    );
    const error = errorOf(() => loadScenario(block, {}));
    expect(error.message).toBe('block.yaml:8:26: statements[1].sql: invalid SQL: syntax error at or near "AND"');
    expect(error.details[0]).toBe('  8 |  WHERE id = $1 AND AND x = 2');
    const plain = write('plain.yaml', 'statements:\n  - sql: SELECT * FORM t\n');
    expect(errorOf(() => loadScenario(plain, {})).message).toBe(
      'plain.yaml:2:19: statements[0].sql: invalid SQL: syntax error at or near "FORM"',
    );
    // The statement's origin lets server errors (a missing column) be placed in the file too.
    const ok = write(
      'origin.yaml',
      'statements:\n  - sql: |\n      -- a comment\n      SELECT nocol\n        FROM t\n',
    );
    expect(loadScenario(ok, {}).statements[0]!.origin).toEqual({ file: 'origin.yaml', line: 3, column: 7, indent: 6 });
    // Its line is its first keyword's, past the comment that belongs to it.
    expect(loadScenario(ok, {}).statements[0]!.line).toBe(4);
  });

  it("places invalid SQL of a folded block, or of a string over several lines, at its line and column in the file, under the file's line", () => {
    const path = write(
      'folded.yaml',
      [
        'statements:',
        '  - name: folded',
        '    sql: >-',
        '      SELECT id FROM t',
        '       WHERE id = $1 AND AND x = 2',
        '    params: [{ value: 1 }]',
        '  - name: joined',
        '    sql: >',
        '      SELECT id',
        '      FROM t WHERE id = 1 ORDER',
        '  - name: plain',
        '    sql: SELECT id',
        '      FROM t WHERE id = 1 LIMT 2',
        '  - name: single',
        "    sql: 'SELECT ''a'' FROM t",
        "      WHERE x = 1 LIMIT'",
        '  - name: double',
        "    sql: \"SELECT 'a\\tb'",
        '      FROM t WHERE x = 1 GROUP"',
        '',
      ].join('\n'),
    );
    const error = errorOf(() => loadScenario(path, {}));
    expect([error.message, ...error.details]).toEqual([
      'folded.yaml:5:26: statements[0].sql: invalid SQL: syntax error at or near "AND"',
      '  5 |  WHERE id = $1 AND AND x = 2',
      '    |                    ^',
      // Folded into one line of SQL: the error is on the file's second line of it.
      'folded.yaml:10:32: statements[1].sql: invalid SQL: syntax error at end of input',
      '  10 | FROM t WHERE id = 1 ORDER',
      '     |                          ^',
      'folded.yaml:13:27: statements[2].sql: invalid SQL: syntax error at or near "LIMT"',
      '  13 | FROM t WHERE id = 1 LIMT 2',
      '     |                     ^',
      'folded.yaml:16:24: statements[3].sql: invalid SQL: syntax error at end of input',
      "  16 | WHERE x = 1 LIMIT'",
      '     |                  ^',
      'folded.yaml:19:31: statements[4].sql: invalid SQL: syntax error at end of input',
      '  19 | FROM t WHERE x = 1 GROUP"',
      '     |                         ^',
    ]);
  });

  it('names the line of the field of a string it cannot place character by character (an explicit indentation indicator)', () => {
    const path = write('indicator.yaml', 'statements:\n  - sql: >2-\n        SELECT 1\n       FROM t WHERE (\n');
    const error = errorOf(() => loadScenario(path, {}));
    expect(error.message).toBe(
      'indicator.yaml:2: statements[0].sql: invalid SQL: syntax error at end of input (line 2, column 16 of the statement)',
    );
    const ok = write('indicator-ok.yaml', 'statements:\n  - sql: >2-\n        SELECT 1\n       FROM t\n');
    expect(loadScenario(ok, {}).statements[0]).toMatchObject({ file: 'indicator-ok.yaml', line: 2 });
  });

  it('gives a folded statement an origin that places any position of its text in the file, after the comment lines of its field', () => {
    const path = write(
      'folded-origin.yaml',
      [
        'statements:',
        '  - sql: >-',
        '      -- why',
        '',
        '      SELECT nocol',
        '        FROM t',
        '       WHERE x = 1',
        '',
      ].join('\n'),
    );
    const statement = loadScenario(path, {}).statements[0]!;
    // The folded text: "-- why\nSELECT nocol\n  FROM t\n WHERE x = 1".
    expect(statement.sql).toBe('-- why\nSELECT nocol\n  FROM t\n WHERE x = 1');
    // Its line is its first keyword's, past the comment that belongs to it.
    expect(statement.line).toBe(5);
    const at = (text: string) => positionInFile(statement.sql, statement.sql.indexOf(text), statement.origin!);
    expect(at('nocol')).toEqual({ line: 5, column: 14 });
    expect(at('FROM')).toEqual({ line: 6, column: 9 });
    expect(at('x = 1')).toEqual({ line: 7, column: 14 });
    expect(caretLinesInFile(statement.sql, statement.sql.indexOf('t\n'), statement.origin!)).toEqual([
      '  6 |   FROM t',
      '    |        ^',
    ]);
  });

  it('maps every character of a string, in every YAML style, to the same character in the file', () => {
    const styles = [
      ['>-', '      SELECT a,', '        b', '', '      FROM t', '       WHERE x', ''],
      ['>+', '      SELECT 1', '       FROM t WHERE (', '', '', ''],
      ['>  # a comment', '', '      SELECT 1', '      FROM t', ''],
      ['SELECT a', '      FROM t   ', '', '      WHERE b', ''],
      ["'SELECT ''it''''s'' FROM t", '', "      WHERE x = 1 '", ''],
      ["\"SELECT 'a' FROM t \\", '      WHERE \\"x\\" = 1 \\tAND y"', ''],
    ];
    for (const lines of styles) {
      const text = `statements:\n  - sql: ${lines.join('\n')}`;
      const value = (parseDocument(text).getIn(['statements', 0, 'sql']) as string) ?? '';
      const origin = scalarOrigin(text, ['statements', 0, 'sql']);
      expect(origin?.map, text).toBeDefined();
      const fileLines = text.split('\n');
      [...value].forEach((ch, i) => {
        if (/\s/.test(ch)) return;
        const { line, column } = positionInFile(value, i, origin!);
        const there = fileLines[line - 1]![column - 1];
        // An escape is placed at its backslash.
        expect(there === ch || there === '\\' || (ch === "'" && there === "'"), `${text}: ${i} ${ch}`).toBe(true);
      });
    }
  });

  it('says what a duration and a generator may be, and names a setup file that is missing at its field', () => {
    const duration = write('duration.yaml', 'load: { duration: 5 sec }\nstatements:\n  - sql: SELECT 1\n');
    const error = errorOf(() => loadScenario(duration, {}));
    expect([error.message, ...error.details]).toEqual([
      'duration.yaml:1:19: load.duration: must be a duration: seconds as a number, or a string such as 500ms, 10s or 2m',
    ]);
    const generator = write('generator.yaml', 'statements:\n  - sql: SELECT $1\n    params:\n      - uuid: {}\n');
    expect(errorOf(() => loadScenario(generator, {})).message).toBe(
      'generator.yaml:4:9: statements[0].params[0].uuid: unknown field (known: int, pick, seq, string, value)',
    );
    const setup = write('setup.yaml', 'setup: { schema: [ok.sql, nope.sql] }\nstatements:\n  - sql: SELECT 1\n');
    write('ok.sql', 'SELECT 1;\n');
    expect(errorOf(() => loadScenario(setup, {})).message).toMatch(
      /^setup\.yaml:1:27: setup\.schema: setup file not found: .*nope\.sql$/,
    );
  });

  it('rejects YAML syntax errors with a position', () => {
    const error = errorOf(() => loadScenario(write('syntax.yaml', 'statements: [\n  - sql: x\n'), {}));
    expect(error.message).toMatch(/^syntax\.yaml:\d+:\d+: invalid YAML/);
  });

  it('points an unclosed quote at where it opens, not where the file ends', () => {
    const quote = write('quote.yaml', 'name: q\nstatements:\n  - name: "unclosed\n    sql: SELECT 1\n');
    expect(errorOf(() => loadScenario(quote, {})).message).toBe(
      'quote.yaml:3:11: invalid YAML: the "quote that opens here is never closed',
    );
    const single = write('single.yaml', "statements:\n  - sql: 'SELECT 1\n    weight: 2\n  - sql: SELECT 2\n");
    expect(errorOf(() => loadScenario(single, {})).message).toBe(
      "single.yaml:2:10: invalid YAML: the 'quote that opens here is never closed",
    );
  });

  it('requires a generator for every $n', () => {
    const error = errorOf(() =>
      loadScenario(
        write('params.yaml', 'statements:\n  - sql: SELECT $1::int + $2::int\n    params:\n      - value: 1\n'),
        {},
      ),
    );
    expect(error.message).toContain('uses $2 but only 1 parameter generator(s) are given');
  });
});

describe('statements that are not replayed', () => {
  it('rejects every utility statement of a SQL workload, each with its line and the reason', () => {
    const path = write(
      'utility.sql',
      [
        "SET work_mem = '64kB';",
        'SELECT 1;',
        'BEGIN;',
        'UPDATE t SET v = 1;',
        'COMMIT;',
        '-- maintenance',
        'VACUUM t;',
        'COPY (SELECT 1) TO STDOUT;',
        'EXPLAIN SELECT 1;',
        '',
      ].join('\n'),
    );
    const error = errorOf(() => loadSqlWorkload(path, {}, {}));
    expect(error.code).toBe('SQL_NOT_REPLAYABLE');
    const lines = [error.message, ...error.details];
    expect(lines.map((l) => l.split(': ')[0])).toEqual([
      'utility.sql:1',
      'utility.sql:3',
      'utility.sql:5',
      'utility.sql:7',
      'utility.sql:8',
      'utility.sql:9',
    ]);
    expect(lines[0]).toContain('SET is a session setting');
    expect(lines[1]).toContain('BEGIN cannot be replayed');
    expect(lines[3]).toContain('VACUUM is not a query to measure');
    expect(lines[4]).toContain('COPY is not replayed');
    expect(lines[5]).toContain('EXPLAIN is not replayed');
  });

  it('refuses COPY FROM STDIN with its data rows in a workload as any COPY, not as a syntax error in the data', () => {
    const path = write('copy.sql', 'SELECT 1;\nCOPY members (id, name) FROM STDIN;\n1\tann\n\\.\n');
    const error = errorOf(() => loadSqlWorkload(path, {}, {}));
    expect(error.code).toBe('SQL_NOT_REPLAYABLE');
    expect(error.message).toMatch(/^copy\.sql:2:1: COPY is not replayed \(.*\): load data with a seed file/);
  });

  it('says an empty or comment-only workload holds no statement', () => {
    for (const [name, text] of [
      ['empty.sql', ''],
      ['blank.sql', '\n  \n'],
      ['comments.sql', '-- nothing yet\n/* still nothing */\n'],
    ]) {
      expect(errorOf(() => loadSqlWorkload(write(name!, text!), {}, {})).message).toBe(
        `${name}: the workload holds no SQL statement`,
      );
    }
  });

  it('accepts every kind of query: CTEs, MERGE, VALUES, TABLE, data-modifying CTEs', () => {
    const path = write(
      'queries.sql',
      [
        'WITH x AS (SELECT 1 AS a) SELECT a FROM x;',
        'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v;',
        'VALUES (1), (2);',
        'TABLE t;',
        'WITH d AS (DELETE FROM t RETURNING id) SELECT count(*) FROM d;',
        '',
      ].join('\n'),
    );
    expect(loadSqlWorkload(path, {}, {}).statements).toHaveLength(5);
  });

  it('refuses SELECT ... INTO, which creates a table, wherever the INTO is, as DDL is refused', () => {
    const path = write(
      'into.sql',
      [
        "SELECT id, status INTO lost_copy FROM shipments WHERE status = 'lost';",
        'SELECT 1;',
        'SELECT id INTO TEMP tmp_ids FROM shipments;',
        'WITH w AS (SELECT 1 AS a) SELECT a INTO UNLOGGED app."Copy" FROM w;',
        'SELECT 1 AS a INTO first_branch UNION SELECT 2;',
        'SELECT * FROM (SELECT 1 INTO nested) s;',
        '',
      ].join('\n'),
    );
    const error = errorOf(() => loadSqlWorkload(path, {}, {}));
    expect(error.code).toBe('SQL_NOT_REPLAYABLE');
    const lines = [error.message, ...error.details];
    expect(lines.map((l) => l.split(': ')[0])).toEqual([
      'into.sql:1',
      'into.sql:3',
      'into.sql:4',
      'into.sql:5',
      'into.sql:6',
    ]);
    expect(lines[0]).toBe(
      'into.sql:1: SELECT ... INTO lost_copy creates a table (it is CREATE TABLE AS), so it is not a query to measure ' +
        '(only SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES and TABLE are replayed): remove INTO lost_copy to measure ' +
        'the query, or move the statement to a setup file (--schema/--seed, or setup in a scenario)',
    );
    expect(lines[1]).toContain('SELECT ... INTO TEMP tmp_ids creates a temporary table (it is CREATE TEMP TABLE AS)');
    expect(lines[2]).toContain('remove INTO UNLOGGED app."Copy" to measure the query');
    expect(lines[3]).toContain('INTO first_branch');
    expect(lines[4]).toContain('INTO nested');

    const scenario = write('into.yaml', 'statements:\n  - name: copy\n    sql: SELECT id INTO copy_of FROM t\n');
    expect(errorOf(() => loadScenario(scenario, {})).message).toMatch(
      /^into\.yaml:3:10: statements\[0\]\.sql: SELECT \.\.\. INTO copy_of creates a table \(it is CREATE TABLE AS\)/,
    );
  });

  it('reports every refused statement and parameter mismatch of a scenario at once, each at its line', () => {
    const path = write(
      'refused.yaml',
      [
        'statements:',
        '  - name: set',
        "    sql: SET work_mem = '1GB'",
        '  - name: into',
        '    sql: SELECT * INTO TEMP t FROM products',
        '  - name: fine',
        '    sql: SELECT 1',
        '  - name: too few params',
        '    sql: SELECT * FROM products WHERE id = $1 AND price > $2',
        '    params:',
        '      - int: { min: 1, max: 10 }',
        '  - name: too many params',
        '    sql: SELECT 1 FROM products WHERE id = $1',
        '    params:',
        '      - int: { min: 1, max: 10 }',
        '      - value: 3',
        '  - name: broken',
        '    sql: SELECT FROM WHERE',
        '',
      ].join('\n'),
    );
    const error = errorOf(() => loadScenario(path, {}));
    const lines = [error.message, ...error.details].filter((l) => !l.startsWith('  '));
    expect(lines.map((l) => l.split(': ').slice(0, 2).join(': '))).toEqual([
      'refused.yaml:3:10: statements[0].sql',
      'refused.yaml:5:10: statements[1].sql',
      'refused.yaml:11:7: statements[3].params',
      'refused.yaml:16:9: statements[4].params',
      'refused.yaml:18:22: statements[5].sql',
    ]);
    expect(lines[0]).toContain('SET is a session setting');
    expect(lines[1]).toContain('SELECT ... INTO TEMP t creates a temporary table');
    expect(lines[2]).toContain('the statement uses $2 but only 1 parameter generator(s) are given');
    expect(lines[3]).toContain('2 parameter generator(s) are given but the statement uses $1..$1 only');
    expect(lines[4]).toContain('invalid SQL: syntax error at or near "WHERE"');
    // The syntax error keeps its source line and caret.
    expect(error.details).toContain('  18 | SELECT FROM WHERE');
  });

  it('reports every refused statement and $n of a SQL workload at once, in file order', () => {
    const path = write('mixed.sql', 'SELECT $1;\nSELECT 1;\nSET work_mem = 1;\nSELECT $2::int;\n');
    const error = errorOf(() => loadSqlWorkload(path, {}, {}));
    expect([error.message, ...error.details].map((l) => l.split(': ')[0])).toEqual([
      'mixed.sql:1',
      'mixed.sql:3',
      'mixed.sql:4',
    ]);
    expect(error.details[0]).toContain('SET is a session setting');
    expect(error.details[1]).toContain('statement uses $2 but a plain SQL workload has no parameter values');
  });

  it('reports the syntax errors of a SQL workload with the refused statements before and after them, in file order', () => {
    const path = write(
      'broken.sql',
      [
        '-- item by id',
        'SELECT * FROM items WHERE id = 5;',
        'BEGIN;',
        "SELECT * FROM items WHER name = 'item 7';",
        "SET work_mem = '64MB';",
        'SELECT 1 FROM;',
        'COMMIT;',
        '',
      ].join('\n'),
    );
    const error = errorOf(() => loadSqlWorkload(path, {}, {}));
    expect(error.code).toBe('SQL_NOT_REPLAYABLE');
    expect([error.message, ...error.details].filter((l) => !l.startsWith(' ')).map((l) => l.split(': ')[0])).toEqual([
      'broken.sql:3',
      'broken.sql:4:26',
      'broken.sql:5',
      'broken.sql:6:14',
      'broken.sql:7',
    ]);
    expect(error.details).toContain("  4 | SELECT * FROM items WHER name = 'item 7';");
  });

  it('rejects a utility statement in a scenario with its line and column', () => {
    const path = write('set.yaml', 'statements:\n  - name: s\n    sql: SET statement_timeout = 5\n');
    expect(errorOf(() => loadScenario(path, {})).message).toMatch(
      /^set\.yaml:3:10: statements\[0\]\.sql: SET is a session setting/,
    );
  });
});

describe('scenario checks after the schema', () => {
  it('name the line and column of the field', () => {
    const minMax = write(
      'minmax.yaml',
      'statements:\n  - sql: SELECT $1::int\n    params:\n      - int: { min: 10, max: 1 }\n',
    );
    expect(errorOf(() => loadScenario(minMax, {})).message).toBe(
      'minmax.yaml:4:9: statements[0].params[0]: int.min (10) is greater than int.max (1)',
    );
    const two = write('two.yaml', 'statements:\n  - sql: SELECT 1; SELECT 2\n');
    expect(errorOf(() => loadScenario(two, {})).message).toBe(
      'two.yaml:2:10: statements[0].sql: must hold exactly one statement (found 2)',
    );
  });

  it('reject generators the statement has no $n for', () => {
    const extra = write('extra.yaml', 'statements:\n  - sql: SELECT 1\n    params:\n      - value: 1\n');
    expect(errorOf(() => loadScenario(extra, {})).message).toBe(
      'extra.yaml:4:9: statements[0].params: 1 parameter generator(s) are given but the statement uses no $n parameter',
    );
  });

  it('reject more than one of repeat, count and duration', () => {
    const both = write('both.yaml', 'load:\n  repeat: 5\n  duration: 3s\nstatements:\n  - sql: SELECT 1\n');
    expect(errorOf(() => loadScenario(both, {})).message).toBe(
      'both.yaml:3:13: load: give one of repeat, count or duration (found repeat and duration)',
    );
  });

  it("name the generator another tool's name stands for, and the one a typo is near", () => {
    const lines = ['statements:'];
    const names = ['choice', 'oneOf', 'enum', 'range', 'sequence', 'const', 'pik', 'strng'];
    for (const name of names) lines.push('  - sql: SELECT $1', '    params:', `      - ${name}: [1]`);
    const error = errorOf(() => loadScenario(write('synonyms.yaml', lines.join('\n') + '\n'), {}));
    expect([error.message, ...error.details].map((l) => l.replace(/^.*params\[0\]\.(\w+): /, '$1: '))).toEqual([
      'choice: unknown field: did you mean pick? (known: int, pick, seq, string, value)',
      'oneOf: unknown field: did you mean pick? (known: int, pick, seq, string, value)',
      'enum: unknown field: did you mean pick? (known: int, pick, seq, string, value)',
      'range: unknown field: did you mean int? (known: int, pick, seq, string, value)',
      'sequence: unknown field: did you mean seq? (known: int, pick, seq, string, value)',
      'const: unknown field: did you mean value? (known: int, pick, seq, string, value)',
      'pik: unknown field: did you mean pick? (known: int, pick, seq, string, value)',
      'strng: unknown field: did you mean string? (known: int, pick, seq, string, value)',
    ]);
    // Only among generators: elsewhere a synonym is just an unknown field.
    const load = write('load.yaml', 'load:\n  range: 3\nstatements:\n  - sql: SELECT 1\n');
    expect(errorOf(() => loadScenario(load, {})).message).toMatch(/load\.range: unknown field \(known: /);
  });

  it('are listed with the schema problems, all at once and in file order', () => {
    const path = write(
      'many.yaml',
      [
        'load:',
        '  repeat: 5',
        '  count: 10',
        'statements:',
        '  - sql: SELECT $1::int',
        '    weight: -2',
        '    params:',
        '      - int: { min: 100, max: 1 }',
        '  - sql: SELECT $1::int',
        '    params:',
        '      - integer: { min: 1, max: 2 }',
        '',
      ].join('\n'),
    );
    const error = errorOf(() => loadScenario(path, {}));
    expect([error.message, ...error.details]).toEqual([
      'many.yaml:3:10: load: give one of repeat, count or duration (found repeat and count)',
      'many.yaml:6:13: statements[0].weight: must be > 0',
      'many.yaml:8:9: statements[0].params[0]: int.min (100) is greater than int.max (1)',
      'many.yaml:11:9: statements[1].params[0].integer: unknown field: did you mean int? (known: int, pick, seq, string, value)',
    ]);
  });
});

describe('every problem of a scenario at once', () => {
  it('lists the schema problems with its SQL, generators, load and setup files, in file order, each at its line', () => {
    write('schema.sql', 'CREATE TABLE t (id int);\n');
    write('broken-seed.sql', 'INSERT INTO t VALUES (1;\n');
    const path = write(
      'all.yaml',
      [
        'setup:',
        '  schema: [schema.sql, nope.sql]',
        '  seed: broken-seed.sql',
        'load:',
        '  duration: 0s',
        '  conections: 4',
        'statements:',
        '  - sql: SELECT FROM WHERE',
        '  - sql: SELECT $1::int + $2',
        '    weight: 0',
        '    params:',
        '      - int: { min: 1, max: 10 }',
        '  - sql: SET work_mem = 1',
        '',
      ].join('\n'),
    );
    const error = errorOf(() => loadScenario(path, {}));
    const lines = [error.message, ...error.details];
    expect(lines.filter((l) => !l.startsWith('  ')).map((l) => l.replace(dir, 'DIR'))).toEqual([
      'all.yaml:2:24: setup.schema: setup file not found: DIR/nope.sql',
      'broken-seed.sql:1:24: invalid SQL: syntax error at or near ";"',
      'all.yaml:5:13: load.duration: must be more than 0',
      'all.yaml:6:3: load.conections: unknown field: did you mean connections? (known: connections, duration, count, repeat, warmup, rounds, threads, statementTimeout)',
      'all.yaml:8:22: statements[0].sql: invalid SQL: syntax error at or near "WHERE"',
      'all.yaml:10:13: statements[1].weight: must be > 0',
      'all.yaml:12:7: statements[1].params: the statement uses $2 but only 1 parameter generator(s) are given',
      expect.stringMatching(/^all\.yaml:13:10: statements\[2\]\.sql: SET is a session setting, not a query to measure/),
    ]);
    // Invalid SQL keeps its source line and caret, under its own line.
    expect(
      lines[lines.indexOf('all.yaml:8:22: statements[0].sql: invalid SQL: syntax error at or near "WHERE"') + 1],
    ).toBe('  8 | SELECT FROM WHERE');
  });
});

describe('load durations and generator bounds', () => {
  it('refuse a load duration of zero at its line, unless a flag replaces it', () => {
    const zero = write('zero.yaml', 'load:\n  duration: 0s\nstatements:\n  - sql: SELECT 1\n');
    expect(errorOf(() => loadScenario(zero, {})).message).toBe('zero.yaml:2:13: load.duration: must be more than 0');
    expect(loadScenario(zero, { durationMs: 1000 }).load.shape).toEqual({ kind: 'duration', durationMs: 1000 });
  });

  it('refuse a statement timeout of zero, which PostgreSQL would read as none, unless a flag replaces it', () => {
    const zero = write('zero-timeout.yaml', 'load:\n  statementTimeout: 0\nstatements:\n  - sql: SELECT 1\n');
    expect(errorOf(() => loadScenario(zero, {})).message).toBe(
      'zero-timeout.yaml:2:21: load.statementTimeout: must be more than 0 (to PostgreSQL, 0 means no timeout, and a replayed statement must never hold the run: give a long one instead, e.g. 30m)',
    );
    expect(loadScenario(zero, { statementTimeoutMs: 5000 }).load.statementTimeoutMs).toBe(5000);
  });

  it('refuse int and seq bounds JavaScript cannot hold exactly', () => {
    const big = write(
      'big.yaml',
      'statements:\n  - sql: SELECT $1::bigint + $2\n    params:\n      - int: { min: 1, max: 1e30 }\n      - seq: { start: -1e17 }\n',
    );
    const error = errorOf(() => loadScenario(big, {}));
    expect([error.message, ...error.details]).toEqual([
      'big.yaml:4:29: statements[0].params[0].int.max: must be between -9007199254740991 and 9007199254740991 (a safe integer)',
      'big.yaml:5:23: statements[0].params[1].seq.start: must be between -9007199254740991 and 9007199254740991 (a safe integer)',
    ]);
  });
});

describe('measurement rounds', () => {
  it('are lowered to the calls per statement when not asked for, and refused when asked for', () => {
    const path = write('one.sql', 'SELECT 1;\n');
    expect(loadSqlWorkload(path, {}, { repeat: 1 }).load.rounds).toBe(1);
    expect(loadSqlWorkload(path, {}, { repeat: 10 }).load.rounds).toBe(3);
    expect(errorOf(() => loadSqlWorkload(path, {}, { repeat: 2, rounds: 3 })).message).toContain(
      '3 rounds need at least 3 calls of every statement, but repeat is 2: lower rounds to 2 or fewer, or raise repeat to 3 or more',
    );
    const scenario = write('rounds.yaml', 'load:\n  count: 4\n  rounds: 5\nstatements:\n  - sql: SELECT 1\n');
    // Rounds the file asks for are named at their line; rounds asked for by a flag, by the flag's.
    expect(errorOf(() => loadScenario(scenario, {})).message).toBe(
      'rounds.yaml:3:11: load.rounds: 5 rounds need at least 5 calls, but count is 4: lower rounds to 4 or fewer, or raise count to 5 or more',
    );
    expect(loadScenario(scenario, { count: 5 }).load.rounds).toBe(5);
    expect(errorOf(() => loadScenario(scenario, { rounds: 6, count: 5 })).message).toBe(
      '6 rounds need at least 6 calls, but count is 5: lower rounds to 5 or fewer, or raise count to 6 or more',
    );
  });

  it('are warned about when a count gives a statement fewer calls than rounds, naming it and the fix', () => {
    const path = write('four.sql', 'SELECT 1;\nSELECT 2;\nSELECT 3;\nSELECT 4;\n');
    // 8 calls over 4 statements are 2 each, for 3 rounds.
    expect(loadSqlWorkload(path, {}, { count: 8 }).warnings).toEqual([
      'count 8 gives 4 statement(s) fewer calls than the 3 rounds: "four.sql:1" (2 calls), "four.sql:2" (2 calls), ' +
        '"four.sql:3" (2 calls), "four.sql:4" (2 calls); a round without a call has no timing, so budgets take the median ' +
        'of fewer rounds and compare cannot test them: raise count to 12 or more, or use repeat (every statement as many calls)',
    ]);
    expect(loadSqlWorkload(path, {}, { count: 12 }).warnings).toBeUndefined();
    expect(loadSqlWorkload(path, {}, { repeat: 1 }).warnings).toBeUndefined();
    const scenario = write(
      'weights.yaml',
      'load:\n  count: 40\nstatements:\n  - name: often\n    sql: SELECT 1\n    weight: 20\n  - name: seldom\n    sql: SELECT 2\n',
    );
    expect(loadScenario(scenario, {}).warnings).toEqual([
      'count 40 gives 1 statement(s) fewer calls than the 3 rounds: "seldom" (weight 1: 2 calls); a round without a call ' +
        'has no timing, so budgets take the median of fewer rounds and compare cannot test it: raise count to 63 or more, ' +
        'raise its weight, or use repeat (every statement as many calls)',
    ]);
  });
});

describe('parameter generators', () => {
  it('are deterministic for a seed and stay in range', () => {
    const gens = [
      { kind: 'int', min: 5, max: 7 } as const,
      { kind: 'seq', start: 10, step: 5 } as const,
      { kind: 'string', length: 4, alphabet: 'ab' } as const,
    ];
    const a = createValueSources(gens, createRandom(1));
    const b = createValueSources(gens, createRandom(1));
    const rowsA = Array.from({ length: 50 }, () => a.map((f) => f()));
    const rowsB = Array.from({ length: 50 }, () => b.map((f) => f()));
    expect(rowsA).toEqual(rowsB);
    expect(new Set(rowsA.map((r) => r[0]))).toEqual(new Set(['5', '6', '7']));
    expect(rowsA.slice(0, 3).map((r) => r[1])).toEqual(['10', '15', '20']);
    expect(rowsA.every((r) => /^[ab]{4}$/.test(r[2]!))).toBe(true);
  });

  it('picks by weight', () => {
    const pick = createWeightedPicker([1, 9], createRandom(7));
    const counts = [0, 0];
    for (let i = 0; i < 10_000; i++) counts[pick()]!++;
    expect(counts[1]! / 10_000).toBeGreaterThan(0.85);
    expect(counts[1]! / 10_000).toBeLessThan(0.95);
  });

  it('split distributes a total over rounds exactly', () => {
    expect(split(10, 3)).toEqual([3, 3, 4]);
    expect(split(2, 3).reduce((s, n) => s + n, 0)).toBe(2);
  });
});

describe('parameter maxima', () => {
  it('track the largest numeric value per position, null once a value is not a number', async () => {
    const { trackMax, mergeMax } = await import('../../src/workload/replay.js');
    let max = trackMax(undefined, ['5', 'a', null]);
    max = trackMax(max, ['50', '3', null]);
    max = trackMax(max, ['7', '4', null]);
    expect(max).toEqual([50, null, Number.NEGATIVE_INFINITY]);
    expect(mergeMax([1, null, 3], [2, 5, 1])).toEqual([2, null, 3]);
    expect(mergeMax(undefined, [2])).toEqual([2]);
  });
});
