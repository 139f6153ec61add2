/**
 * What runs inside the database's own functions: the statements of a PL/pgSQL or SQL function's
 * body, the functions a statement reaches (by calling them, through other functions, or through the
 * triggers of the tables it writes), and, for each statement pg_stat_statements recorded inside a
 * function (`toplevel` false), the functions that hold it and the top-level statements that run
 * them. Pure: the catalog is read in `capture/functions.ts`; the parser must be loaded.
 */
import type { CalledFunction, NestedInfo, QueryReport } from '../model/report.js';
import { expressionAsStatement, fingerprintStatement, parsePlpgsql, tryParse } from './parser.js';
import { nodeType, nodesOf, parseTree, type TreeNode } from './sql-tree.js';

/** A function of the database, as the catalog gives it (`capture/functions.ts`). */
export interface FunctionSource {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** `plpgsql` or `sql`. */
  readonly language: string;
  /** `pg_get_functiondef`: what PL/pgSQL's parser reads. */
  readonly definition: string;
  /** `prosrc`: a SQL function's statements. */
  readonly source: string;
  /** Names and types (`format_type`) of its input parameters; a parameter without a name is ''. */
  readonly parameters: readonly { readonly name: string; readonly type: string }[];
}

/** A trigger of the database: which function runs when its table is written. */
export interface TriggerSource {
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  readonly events: readonly WriteEvent[];
  readonly functionOid: number;
  /** The table's columns and their types (`format_type`): the fields of the trigger's `NEW` and `OLD`. */
  readonly columns: Readonly<Record<string, string>>;
}

export type WriteEvent = 'insert' | 'update' | 'delete';

/** A function or table name as a statement writes it: the schema only when it is written. */
interface QualifiedName {
  readonly schema?: string;
  readonly name: string;
}

interface TableWrite extends QualifiedName {
  readonly events: readonly WriteEvent[];
}

/** A function's body, read. */
export interface FunctionBody {
  readonly fn: FunctionSource;
  /** Fingerprints of the statements it runs (an expression that runs a query as `SELECT <expression>`). */
  readonly statements: ReadonlySet<string>;
  readonly calls: readonly QualifiedName[];
  readonly writes: readonly TableWrite[];
  /**
   * Declared types of its variables and parameters, by their lower-case name, also qualified with
   * the function's name (`p_id`, `customer_value.p_id`), for the parameters that stand for them
   * when a statement of its body is explained.
   */
  readonly types: ReadonlyMap<string, string>;
}

/** The fingerprint of a statement recorded inside a function (an expression reads as `SELECT <expression>`). */
export function nestedFingerprint(text: string): string {
  return fingerprintStatement(expressionAsStatement(text) ?? text);
}

/** The functions a statement calls, as written (`CALL` included). */
export function statementCalls(sql: string): QualifiedName[] {
  return nodesOf(parseTree(sql), 'FuncCall', { subqueries: true }).flatMap((call) => {
    const names = Array.isArray(call.funcname) ? call.funcname.map(stringOf) : [];
    const name = names[names.length - 1];
    const schema = names.length > 1 ? names[names.length - 2] : undefined;
    return name ? [{ name, ...(schema ? { schema } : {}) }] : [];
  });
}

/** The tables a statement writes (its data-modifying CTEs included), with the trigger events it fires. */
export function statementWrites(sql: string): TableWrite[] {
  const out: TableWrite[] = [];
  const tree = parseTree(sql);
  const kinds: readonly [string, (fields: TreeNode) => WriteEvent[]][] = [
    ['InsertStmt', (f) => (onConflictUpdates(f) ? ['insert', 'update'] : ['insert'])],
    ['UpdateStmt', () => ['update']],
    ['DeleteStmt', () => ['delete']],
    ['MergeStmt', () => ['insert', 'update', 'delete']],
  ];
  for (const [kind, events] of kinds) {
    for (const stmt of nodesOf(tree, kind, { subqueries: true })) {
      const relation = nodeType({ RangeVar: stmt.relation })?.[1];
      const name = typeof relation?.relname === 'string' ? relation.relname : undefined;
      if (!name) continue;
      const schema = typeof relation?.schemaname === 'string' ? relation.schemaname : undefined;
      out.push({ name, ...(schema ? { schema } : {}), events: events(stmt) });
    }
  }
  return out;
}

const onConflictUpdates = (insert: TreeNode): boolean =>
  (insert.onConflictClause as { action?: string } | undefined)?.action === 'ONCONFLICT_UPDATE';

const stringOf = (value: unknown): string | undefined => {
  const s = (value as { String?: { sval?: unknown } } | undefined)?.String?.sval;
  return typeof s === 'string' ? s : undefined;
};

/**
 * Reads a function's body: the statements it runs, what they call and write, and its variables'
 * types. A body that does not parse reads as empty (a statement of it is then not matched).
 */
export function readFunctionBody(fn: FunctionSource): FunctionBody {
  const texts: string[] = [];
  const types = new Map<string, string>();
  const declare = (name: string, type: string | undefined) => {
    // A type that names another's (`sales.amount%TYPE`) is no cast: the planner infers it.
    if (!name || !type || type.includes('%')) return;
    types.set(name.toLowerCase(), type);
    types.set(`${fn.name.toLowerCase()}.${name.toLowerCase()}`, type);
  };
  if (fn.language === 'plpgsql') {
    const parsed = parsePlpgsql(fn.definition);
    visitPlpgsql(parsed, (node) => {
      const [type, fields] = nodeType(node) ?? [];
      if (type === 'PLpgSQL_expr' && typeof fields?.query === 'string') {
        // parseMode 0 is a statement; the others an expression or an assignment's.
        texts.push(fields.parseMode === 0 ? fields.query : (expressionAsStatement(fields.query) ?? fields.query));
      } else if (type === 'PLpgSQL_var' && typeof fields?.refname === 'string') {
        const datatype = (fields.datatype as { PLpgSQL_type?: { typname?: unknown } } | undefined)?.PLpgSQL_type;
        declare(fields.refname, typeof datatype?.typname === 'string' ? datatype.typname : undefined);
      }
    });
  } else {
    const bytes = Buffer.from(fn.source, 'utf8');
    for (const stmt of tryParse(fn.source)?.stmts ?? []) {
      const start = stmt.stmt_location ?? 0;
      const end = stmt.stmt_len ? start + stmt.stmt_len : bytes.length;
      texts.push(bytes.subarray(start, end).toString('utf8').trim());
    }
  }
  for (const p of fn.parameters) declare(p.name, p.type);
  return {
    fn,
    statements: new Set(texts.map((t) => fingerprintStatement(t))),
    calls: texts.flatMap(statementCalls),
    writes: texts.flatMap(statementWrites),
    types,
  };
}

function visitPlpgsql(value: unknown, visit: (node: unknown) => void): void {
  if (Array.isArray(value)) return value.forEach((v) => visitPlpgsql(v, visit));
  if (!value || typeof value !== 'object') return;
  visit(value);
  for (const child of Object.values(value as Record<string, unknown>)) visitPlpgsql(child, visit);
}

const qualified = (fn: FunctionSource) => `${fn.schema}.${fn.name}`;
const matches = (wanted: QualifiedName, schema: string, name: string) =>
  wanted.name === name && (wanted.schema === undefined || wanted.schema === schema);

/** How far calls are followed from a statement (a recursive function stops there too). */
const MAX_DEPTH = 8;

/**
 * The functions a statement runs: those it calls, the trigger functions of the tables it writes,
 * and, through their bodies, the functions those run in turn. A call that names no function of the
 * catalog (a built-in, `count`) is none.
 */
export function reachedFunctions(
  sql: string,
  bodies: readonly FunctionBody[],
  triggers: readonly TriggerSource[],
): { body: FunctionBody; via?: string }[] {
  const byOid = new Map(bodies.map((b) => [b.fn.oid, b]));
  const found = new Map<number, { body: FunctionBody; via?: string }>();
  const step = (calls: readonly QualifiedName[], writes: readonly TableWrite[], from: string | undefined) => {
    const next: FunctionBody[] = [];
    const reach = (body: FunctionBody | undefined, via: string | undefined) => {
      if (!body || found.has(body.fn.oid)) return;
      found.set(body.fn.oid, { body, ...(via ? { via } : {}) });
      next.push(body);
    };
    for (const call of calls)
      for (const body of bodies) if (matches(call, body.fn.schema, body.fn.name)) reach(body, from);
    for (const write of writes)
      for (const t of triggers)
        if (matches(write, t.schema, t.table) && t.events.some((e) => write.events.includes(e)))
          reach(byOid.get(t.functionOid), `trigger ${t.name} on ${t.schema}.${t.table}`);
    return next;
  };
  let frontier = step(statementCalls(sql), statementWrites(sql), undefined);
  for (let depth = 1; depth < MAX_DEPTH && frontier.length > 0; depth++)
    frontier = frontier.flatMap((b) => step(b.calls, b.writes, `${qualified(b.fn)}()`));
  return [...found.values()];
}

/**
 * Links the statements of a report to the functions that run them: each top-level statement gets
 * the functions it runs (`functions`), each nested statement the functions whose body holds it and
 * the top-level statements that run those (`nested`). Also returns, per nested statement (by
 * fingerprint), the declared types of its functions' variables.
 */
export function linkFunctions(
  queries: readonly QueryReport[],
  bodies: readonly FunctionBody[],
  triggers: readonly TriggerSource[],
): { queries: QueryReport[]; types: ReadonlyMap<string, ReadonlyMap<string, string>> } {
  const reached = new Map<string, { body: FunctionBody; via?: string }[]>();
  for (const q of queries) if (!q.nested) reached.set(q.fingerprint, reachedFunctions(q.query, bodies, triggers));
  const types = new Map<string, Map<string, string>>();
  const linked = queries.map((q): QueryReport => {
    if (!q.nested) {
      const mine = reached.get(q.fingerprint) ?? [];
      const functions: CalledFunction[] = mine.map(({ body, via }) => ({
        name: qualified(body.fn),
        language: body.fn.language,
        ...(via ? { via } : {}),
      }));
      return functions.length > 0 ? { ...q, functions } : q;
    }
    const holders = bodies.filter((b) => b.statements.has(q.fingerprint));
    const oids = new Set(holders.map((b) => b.fn.oid));
    const callers = queries
      .filter((c) => !c.nested && (reached.get(c.fingerprint) ?? []).some(({ body }) => oids.has(body.fn.oid)))
      .map((c) => c.fingerprint);
    const merged = new Map<string, string>();
    const add = (name: string, type: string) => {
      if (!merged.has(name)) merged.set(name, type);
    };
    for (const b of holders) {
      for (const [name, type] of b.types) add(name, type);
      // A trigger function's NEW and OLD are rows of its table.
      for (const t of triggers.filter((t) => t.functionOid === b.fn.oid))
        for (const [column, type] of Object.entries(t.columns)) {
          add(`new.${column}`, type);
          add(`old.${column}`, type);
        }
    }
    if (merged.size > 0) types.set(q.fingerprint, merged);
    const nested: NestedInfo = { functions: [...new Set(holders.map((b) => qualified(b.fn)))], callers };
    return { ...q, nested };
  });
  return { queries: linked, types };
}
