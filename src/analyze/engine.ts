/**
 * The rule engine: runs every enabled rule over every statement of a report and fills
 * `queries[].findings` and `queries[].suppressed`. Pure (the parser must be loaded).
 *
 * Suppression: a `querygate-ignore: rule-id[, rule-id] reason` comment in the statement silences
 * those rules for it; the finding and the reason stay in the report under `suppressed`.
 * pg_stat_statements drops comments that precede a statement (it keeps those inside it), so the
 * engine reads comments from the statement text in the report and from the SQL the client sent.
 */
import type { Finding, Severity } from '../model/finding.js';
import type { PlanMode, PlanNode } from '../model/plan.js';
import type { QueryReport, RelationInfo, Report, SuppressedFinding } from '../model/report.js';
import type { ResolvedRules } from '../config/config.js';
import type { AnyRule, RuleContext, RuleFinding } from '../rules/define.js';
import { RULES } from '../rules/index.js';
import { quoteIdentifier, statementComments } from './parser.js';
import { measureWith } from './measure.js';
import { costliestNode, formatPath, nodeLabel } from './plan.js';
import { planNodes, type PlanNodeFacts } from './plan-facts.js';
import { parseTree } from './sql-tree.js';

/** What the replaying client knows about a statement it sent (finalize passes these). */
export interface SourceStatement {
  readonly fingerprint: string;
  /** The statement as sent: literals and comments intact. */
  readonly sql: string;
  readonly params?: readonly (string | null)[];
}

export interface RuleSettings {
  /** Resolved rule settings (`resolveRules`/`loadConfig`); default: every rule at its defaults. */
  readonly rules?: ResolvedRules;
  /** Statements the client sent itself, for their literals, parameter values and comments. */
  readonly statements?: readonly SourceStatement[];
  /** The rules to run (default: the registry). */
  readonly registry?: readonly AnyRule[];
}

/** A `querygate-ignore` directive found in a statement's comments. */
export interface IgnoreDirective {
  readonly rules: readonly string[];
  readonly reason: string;
}

const IGNORE_MARK = 'querygate-ignore';

/**
 * The `querygate-ignore: rule-a, rule-b reason` directives in comments. The rule list is
 * comma-separated ids; the rest of the comment is the reason.
 */
export function ignoreDirectives(comments: readonly string[]): IgnoreDirective[] {
  const out: IgnoreDirective[] = [];
  for (const raw of comments) {
    const body = raw.startsWith('--') ? raw.slice(2) : raw.replace(/^\/\*/, '').replace(/\*\/$/, '');
    const at = body.indexOf(IGNORE_MARK);
    if (at < 0) continue;
    let rest = body.slice(at + IGNORE_MARK.length).trim();
    if (rest.startsWith(':')) rest = rest.slice(1).trim();
    const rules: string[] = [];
    // ids are kebab-case words separated by commas; the first word not followed by a comma ends the list.
    for (;;) {
      const match = /^([a-z0-9][a-z0-9-]*)\s*(,)?\s*/i.exec(rest);
      if (!match) break;
      rules.push(match[1]!.toLowerCase());
      rest = rest.slice(match[0].length);
      if (!match[2]) break;
    }
    if (rules.length > 0) out.push({ rules, reason: rest.replace(/\s+/g, ' ').trim() });
  }
  return out;
}

const LOWER: Readonly<Record<Severity, Severity>> = { error: 'warning', warning: 'info', info: 'info' };

function fillTemplate(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) return whole;
    return typeof value === 'number' ? formatNumber(value) : value;
  });
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 100) / 100);
}

function toFinding(rule: AnyRule, configured: Severity, raw: RuleFinding): Finding {
  const template = rule.messages[raw.messageId];
  if (template === undefined) throw new Error(`rule ${rule.id} returned unknown messageId "${raw.messageId}"`);
  const severity = raw.level === 'note' ? 'info' : raw.level === 'mild' ? LOWER[configured] : configured;
  const { data, level: _level, ...rest } = raw;
  return {
    rule: rule.id,
    severity,
    ...rest,
    message: fillTemplate(template, { ...raw.evidence, ...(data ?? {}) }),
  };
}

const ORDER: Readonly<Record<Severity, number>> = { error: 0, warning: 1, info: 2 };

/** Rules whose diagnosis is more specific than another's about the same plan node, most specific first. */
const SPECIFIC_FIRST: readonly string[] = ['non-sargable-predicate', 'nested-loop-heavy', 'seq-scan-large-table'];
const specificity = (rule: string) => {
  const i = SPECIFIC_FIRST.indexOf(rule);
  return i < 0 ? SPECIFIC_FIRST.length : i;
};

/**
 * One finding per problem: two rules often see one scan (the predicate that defeats an index, and
 * the rows that makes the scan read) and give the same fix. Of findings on the same plan node with
 * the same suggestion, the most severe is kept (on a tie, the more specific rule's), and it names the
 * others in `evidence.sameFixAs`, so that one problem counts once in totals, gates and reports.
 */
function oneFindingPerFix(
  findings: readonly Finding[],
  fixOf: (f: Finding) => string | undefined = (f) => f.suggestion,
): Finding[] {
  const groups = new Map<string, Finding[]>();
  const out: Finding[] = [];
  for (const f of findings) {
    const fix = fixOf(f);
    if (!f.nodePath || !fix) {
      out.push(f);
      continue;
    }
    const key = `${f.nodePath}\n${fix}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  for (const group of groups.values()) {
    const [best, ...others] = [...group].sort(
      (a, b) => ORDER[a.severity] - ORDER[b.severity] || specificity(a.rule) - specificity(b.rule),
    );
    out.push(
      others.length === 0
        ? best!
        : { ...best!, evidence: { ...best!.evidence, sameFixAs: [...new Set(others.map((o) => o.rule))].join(', ') } },
    );
  }
  return out;
}

const APPENDS = new Set(['Append', 'Merge Append']);

/**
 * One finding per partitioned table: the planner scans each partition of a table that pruning
 * did not exclude as a child of one Append (Merge Append), and a rule sees one scan per partition,
 * all with the same problem and the same fix on the parent. Findings of a rule on the partitions of
 * one table under one Append become one finding about that table, at the Append: the worst
 * partition's (most severe, then most rows read, then the costliest scan), with the partitions scanned and the rows read
 * by all in its evidence, and its fix named on the parent.
 */
function onePerPartitionedTable(
  findings: readonly Finding[],
  nodes: readonly PlanNodeFacts[],
  relation: (name: string | undefined) => RelationInfo | undefined,
): Finding[] {
  const byPath = new Map(nodes.map((n) => [formatPath(n.path), n]));
  const groups = new Map<string, { parent: string; append: string; scanned: number; findings: Finding[] }>();
  const out: Finding[] = [];
  for (const f of findings) {
    const parent = relation(f.relation)?.partitionOf;
    const facts = f.nodePath ? byPath.get(f.nodePath) : undefined;
    if (!parent || !facts?.parent || !APPENDS.has(facts.parent['Node Type'])) {
      out.push(f);
      continue;
    }
    const append = formatPath(facts.path.slice(0, -1));
    const key = `${f.rule}\n${parent}\n${append}`;
    // The partitions of the table the Append scans (some rules report one of them only).
    const scanned = new Set(
      nodes
        .filter((n) => n.parent === facts.parent && n.node['Relation Name'] !== undefined)
        .map((n) => (n.node.Schema ? `${n.node.Schema}.${n.node['Relation Name']}` : n.node['Relation Name']))
        .filter((name) => relation(name)?.partitionOf === parent),
    ).size;
    const group = groups.get(key) ?? { parent, append, scanned, findings: [] };
    group.findings.push(f);
    groups.set(key, group);
  }
  for (const { parent, append, scanned, findings: group } of groups.values()) {
    if (scanned < 2) {
      out.push(...group);
      continue;
    }
    // Rows a scan reads (seq-scan-large-table, index-scan-filter) or produces (row-estimate-mismatch).
    const measure = group.every((f) => typeof f.evidence.rowsRead === 'number')
      ? { key: 'rowsRead', total: 'rowsReadInAll', words: 'rows read in all' }
      : group.every((f) => typeof f.evidence.actualRows === 'number')
        ? { key: 'actualRows', total: 'actualRowsInAll', words: 'rows in all' }
        : undefined;
    const rows = (f: Finding) => (measure ? Number(f.evidence[measure.key]) : 0);
    // Without counted rows (a plan without ANALYZE), the partition's own work is its scan's plan
    // cost: the blocks per call pg_stat_statements gives are the statement's, the same for every
    // partition, and would leave the first scan of the plan as "the worst".
    const cost = (f: Finding) => {
      const node = f.nodePath ? byPath.get(f.nodePath)?.node : undefined;
      return node ? Number(node['Total Cost'] ?? 0) * Number(node['Actual Loops'] ?? 1) : 0;
    };
    const [worst] = [...group].sort(
      (a, b) => ORDER[a.severity] - ORDER[b.severity] || rows(b) - rows(a) || cost(b) - cost(a),
    );
    const partitions = [...new Set(group.map((f) => f.relation!))];
    const total = Math.round(group.reduce((n, f) => n + rows(f), 0));
    out.push({
      ...worst!,
      relation: parent,
      nodePath: append,
      message:
        partitions.length > 1
          ? `${partitions.length} partitions of ${parent}${measure ? ` (${formatNumber(total)} ${measure.words})` : ''}; the worst: ${worst!.message}`
          : worst!.message,
      evidence: {
        ...worst!.evidence,
        partitionsScanned: Math.max(scanned, partitions.length),
        ...(measure && partitions.length > 1 ? { [measure.total]: total } : {}),
        worstPartition: worst!.relation!,
      },
      ...(worst!.suggestion
        ? { suggestion: onParent(worst!.suggestion, worst!.relation!, parent, Math.max(scanned, partitions.length)) }
        : {}),
    });
  }
  return out;
}

/**
 * A partition's fix, on its partitioned table: an index, ANALYZE or a column's statistics target
 * given on the parent reaches every partition, so the partition's name becomes the parent's. An
 * extended statistics object does not (the planner estimates each partition's scan from that
 * partition's own), so it stays per partition. Index names stay: a partition's index exists.
 */
function onParent(suggestion: string, partition: string, parent: string, count: number): string {
  if (/\bCREATE STATISTICS\b/i.test(suggestion))
    return `${suggestion} -- likewise on each of the ${count} partitions of ${parent}: extended statistics on a partitioned table do not reach its partitions`;
  // The table's name only: an index a partition has is named after the partition, not the parent.
  let out = suggestion;
  for (const [from, to] of [
    [partition, parent],
    [quoteQualified(partition), quoteQualified(parent)],
  ] as const)
    out = out.replace(new RegExp(`(?<![\\w."])${escapeRegExp(from)}(?![\\w"])`, 'g'), to);
  return out;
}

const quoteQualified = (name: string) => {
  const dot = name.indexOf('.');
  return `${quoteIdentifier(name.slice(0, dot))}.${quoteIdentifier(name.slice(dot + 1))}`;
};

const escapeRegExp = (text: string) => text.replace(/[.*+?^$|()[\]{}\\]/g, '\\$&');

/**
 * Timing rules (category `time`: a slow mean, a large share of database time) say that a statement
 * costs, not why. When another finding of the statement at warning or above says why, they are
 * context for it: reported as info, naming it in `evidence.explainedBy`, so that one slow statement
 * is not three warnings. A timing rule whose severity the configuration changed keeps it.
 */
function timeAsContext(
  findings: readonly Finding[],
  timing: ReadonlySet<string>,
  query: QueryReport,
  report: Report,
): Finding[] {
  const cause = findings.find((f) => !timing.has(f.rule) && f.severity !== 'info');
  if (!cause) {
    // Unexplained, the timing findings say one thing (this statement is slow): the most severe
    // one says it, and the others are context for it.
    const suggestion = unrecordedFunctions(query, report) ?? unexplainedTime(query, report.workload.analyze);
    const first = [...findings]
      .filter((f) => timing.has(f.rule) && f.severity !== 'info')
      .sort((a, b) => ORDER[a.severity] - ORDER[b.severity])[0];
    return findings.map((f) => {
      if (!timing.has(f.rule)) return f;
      if (!first || f === first || f.severity === 'info') return { ...f, suggestion };
      return { ...f, suggestion, severity: 'info' as const, evidence: { ...f.evidence, explainedBy: first.rule } };
    });
  }
  return findings.map((f) =>
    timing.has(f.rule) && f.severity !== 'info'
      ? { ...f, severity: 'info' as const, evidence: { ...f.evidence, explainedBy: cause.rule } }
      : f,
  );
}

/**
 * What a timing finding suggests when no other finding says why the statement is slow: where its
 * plan spends, or how to get a plan that says more. The words follow how the plan was made.
 */
function unexplainedTime(query: QueryReport, analyzeAsked: boolean): string {
  if (!query.plan)
    return (
      `no plan was captured for it${query.planNote ? ` (${query.planNote})` : ''}: no rule could say why` +
      (query.planNote?.includes('--explain-timeout') ? '; a longer --explain-timeout gives it time for one' : '')
    );
  const node = nodeLabel(costliestNode(query.plan.root));
  if (query.plan.mode === 'analyze')
    return `no rule explains its time from the plan: start at its costliest node, ${node} (the plan is in the report)`;
  const plan = PLAN_WORDS[query.plan.mode];
  if (query.plan.notAnalyzed)
    return `no rule explains its time from ${plan}, whose costliest node is ${node} (the run asked for --analyze, but this statement could not be analyzed: ${query.plan.notAnalyzed})`;
  if (query.nested)
    return `no rule explains its time from ${plan}, whose costliest node is ${node} (a statement run inside a function is planned without the values of its variables)`;
  return analyzeAsked
    ? `no rule explains its time from ${plan}, whose costliest node is ${node} (the run asked for --analyze, but this statement could not be analyzed: ${query.planNote ?? "see the run's warnings"})`
    : `no rule explains its time from ${plan}, whose costliest node is ${node}: run ${measureWith(query)} for actual rows and time per node`;
}

/** How a plan that was not analyzed was made, for the timing findings' words. */
const PLAN_WORDS: Readonly<Record<Exclude<PlanMode, 'analyze'>, string>> = {
  literal: 'its plan (made with the statement as written)',
  params: "its plan (made with the parameters of the replay's slowest call)",
  generic: 'the generic plan (the parameter values were unknown)',
};

/**
 * After index advice: a statement that a timing rule flags at warning or above, because no other
 * finding of that severity says why it is slow, may have a finding below it (info: a scan that was
 * only context) whose index advice was validated, a cut of the statement's plan cost by half or
 * more. That finding is then the explanation: it is raised to the timing finding's severity (never
 * above its own rule's configured severity), naming the timing rule in `evidence.raisedBy`, and the
 * timing findings become its context (info, `explainedBy`), pointing to the fix. The warning moves
 * from the symptom to the cause; the statement's count of warnings stays the same. When the rule's
 * configured severity is info, it stays info, and the timing finding points to its fix.
 *
 * Run after `adviseReport` (and `mergeSameFixes`), with the rule settings the rules ran with.
 */
export function explainTimeByAdvice(report: Report, settings: Omit<RuleSettings, 'statements'> = {}): Report {
  const registry = settings.registry ?? RULES;
  const configured = (id: string) =>
    settings.rules?.[id]?.severity ?? registry.find((r) => r.id === id)?.severity ?? 'info';
  const timing = timingRules(registry, settings.rules);
  const advised: Report = {
    ...report,
    queries: report.queries.map((query) => {
      const lead = query.findings.find((f) => timing.has(f.rule) && f.severity !== 'info');
      const fix = query.findings
        .filter((f) => !timing.has(f.rule) && f.advice !== undefined)
        .sort((a, b) => b.advice!.improvement - a.advice!.improvement)[0];
      if (!lead || !fix?.advice) return query;
      const ceiling = configured(fix.rule);
      const raised = ORDER[ceiling] > ORDER[lead.severity] ? ceiling : lead.severity;
      const explains = ORDER[raised] < ORDER.info;
      const { advice } = fix;
      const pointer =
        `${explains ? '' : `no finding at warning or above explains its time, but `}${fix.rule}${fix.relation ? ` on ${fix.relation}` : ''}` +
        `${explains ? '' : ' (info)'} has a validated ${advice.kind === 'statistics' ? 'fix' : 'index'} that lowers its plan cost from ${advice.costBefore.toFixed(0)} to ` +
        `${advice.costAfter.toFixed(0)} (${Math.floor(advice.improvement * 100)}%): ${advice.sql}`;
      const findings = query.findings.map((f): Finding => {
        if (f === fix && ORDER[raised] < ORDER[f.severity])
          return { ...f, severity: raised, evidence: { ...f.evidence, raisedBy: lead.rule } };
        if (!timing.has(f.rule)) return f;
        if (!explains) return f === lead ? { ...f, suggestion: pointer } : f;
        return {
          ...f,
          severity: 'info',
          suggestion: pointer,
          evidence: { ...f.evidence, explainedBy: fix.rule },
        };
      });
      findings.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.rule.localeCompare(b.rule));
      return { ...query, findings };
    }),
  };
  // The advice of a nested statement may be what explains its caller's time.
  return explainTimeInFunctions(advised, timing);
}

/**
 * A statement that calls a function spends its time in the statements the function runs, which its
 * own plan does not show (a function call is one `Result` node). When the run recorded those
 * statements (`nested`), a timing finding of the caller that no finding of its own explains points
 * to the costliest of them: the function, its share of the caller's time, and its fix. When that
 * statement has a finding at warning or above that is not a timing one, that finding is the
 * explanation: the caller's timing findings become context for it (info, `explainedBy`), so that one
 * slow query inside a function is one warning, on the query. Run after the rules, and again after
 * index advice (which may validate the nested statement's fix and raise it).
 */
function explainTimeInFunctions(report: Report, timing: ReadonlySet<string>): Report {
  const nested = report.queries.filter((q) => q.nested && q.nested.callers.length > 0);
  if (nested.length === 0) return report;
  return {
    ...report,
    queries: report.queries.map((query) => {
      if (query.nested || !query.findings.some((f) => timing.has(f.rule))) return query;
      if (query.findings.some((f) => !timing.has(f.rule) && f.severity !== 'info')) return query;
      const [inner] = nested
        .filter((n) => n.nested!.callers.includes(query.fingerprint))
        .sort((a, b) => b.totalMs - a.totalMs);
      if (!inner) return query;
      const fn = inner.nested!.functions[0] ?? 'a function';
      const cause = inner.findings.find((f) => !timing.has(f.rule) && f.severity !== 'info');
      const fix = cause ? (cause.advice?.sql ?? cause.suggestion) : undefined;
      const alone = inner.nested!.callers.length === 1;
      const text = inner.query.replace(/\s+/g, ' ').trim();
      const via = query.functions?.find((f) => f.name === fn)?.via;
      const pointer =
        `its time is spent inside ${fn}()${via ? ` (${via})` : ''}: the statement \`${text.length > 100 ? `${text.slice(0, 99)}…` : text}\` ` +
        (alone
          ? `run there takes ${formatNumber(inner.totalMs)} ms of its ${formatNumber(query.totalMs)} ms`
          : `run there takes ${formatNumber(inner.totalMs)} ms, for ${inner.nested!.callers.length} statements that run it`) +
        (cause ? `; ${cause.rule} on it: ${fix ?? 'see its finding'}` : ': see that statement and its plan');
      const evidence = { insideFunction: fn, nestedStatement: inner.fingerprint, nestedMs: inner.totalMs };
      const findings = query.findings.map((f): Finding => {
        if (!timing.has(f.rule)) return f;
        const { explainedBy: _own, ...rest } = f.evidence;
        return cause
          ? {
              ...f,
              severity: 'info',
              suggestion: pointer,
              evidence: { ...rest, ...evidence, explainedBy: cause.rule },
            }
          : { ...f, suggestion: pointer, evidence: { ...f.evidence, ...evidence } };
      });
      findings.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.rule.localeCompare(b.rule));
      return { ...query, findings };
    }),
  };
}

/**
 * What a timing finding suggests for a statement that runs functions of the database on a server
 * that does not record the statements run inside them (`pg_stat_statements.track = top`): its time
 * is likely theirs, and the setting that shows them.
 */
function unrecordedFunctions(query: QueryReport, report: Report): string | undefined {
  if (report.target.pgStatStatementsTrack !== 'top' || !query.functions?.length) return undefined;
  const names = query.functions.slice(0, 3).map((f) => `${f.name}() (${f.language}${f.via ? `, ${f.via}` : ''})`);
  const more = query.functions.length > 3 ? ` and ${query.functions.length - 3} more` : '';
  return (
    `its time is likely spent inside ${names.join(', ')}${more}, whose statements pg_stat_statements does not record ` +
    `on this server (pg_stat_statements.track = top): set it to all (ALTER SYSTEM SET pg_stat_statements.track = 'all'; ` +
    `SELECT pg_reload_conf();) and run again, and they are reported with their plans, findings and index advice`
  );
}

/** Timing rules whose severity the configuration left as it is (a changed one keeps its severity). */
function timingRules(registry: readonly AnyRule[], resolved: ResolvedRules | undefined): Set<string> {
  return new Set(
    registry
      .filter((r) => r.category === 'time' && (resolved?.[r.id]?.severity ?? r.severity) === r.severity)
      .map((r) => r.id),
  );
}

/**
 * One finding per fix again after index advice, which gives two findings of a statement the same
 * validated index when their own suggestions differed (`oneFindingPerFix`): the index decides, and
 * the kept finding keeps its own rewrite next to it (`<index> -- or: <rewrite>`, the rewrite first
 * for a rule whose rewrite leads).
 */
export function mergeSameFixes(report: Report): Report {
  return {
    ...report,
    queries: report.queries.map((query) => {
      const findings = oneFindingPerFix(query.findings, (f) => f.advice?.sql ?? f.suggestion);
      if (findings.length === query.findings.length) return query;
      findings.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.rule.localeCompare(b.rule));
      return { ...query, findings };
    }),
  };
}

/** Runs the rules over every statement; returns a new report (the input is not changed). */
export function applyRules(report: Report, settings: RuleSettings = {}): Report {
  const registry = settings.registry ?? RULES;
  const resolved = settings.rules;
  const sources = new Map((settings.statements ?? []).map((s) => [s.fingerprint, s]));
  const byName = new Map<string, RelationInfo>();
  for (const r of report.relations) {
    byName.set(r.name, r);
    // A bare name is ambiguous when several schemas hold it: keep the first (the catalog resolved
    // plan names to the visible one, see describeRelations).
    if (!byName.has(r.table)) byName.set(r.table, r);
  }
  const relation = (name: string | undefined) => (name ? byName.get(name) : undefined);
  // A plan names relations without their schema: the statement's own relations say which one.
  const relationIn = (query: QueryReport) => (node: PlanNode) => {
    const rel = node['Relation Name'];
    if (!rel) return undefined;
    if (node.Schema) return relation(`${node.Schema}.${rel}`) ?? relation(rel);
    return query.relations.map((name) => byName.get(name)).find((r) => r?.table === rel) ?? relation(rel);
  };
  const known = new Set(registry.map((r) => r.id));
  const timing = timingRules(registry, resolved);
  const warnings = new Set(report.warnings);

  const queries = report.queries.map((query): QueryReport => {
    // What the replay sent is a top-level statement; a nested one reads as it was explained, with
    // parameters for its function's variables (which its own text names like columns).
    const source = query.nested ? undefined : sources.get(query.fingerprint);
    const sql = source?.sql ?? query.plan?.sql ?? query.query;
    const params = query.plan?.params ?? source?.params;
    const context = {
      query,
      report,
      sql,
      ...(params ? { params } : {}),
      ...(query.paramMax ? { paramMax: query.paramMax } : {}),
      tree: parseTree(sql),
      nodes: query.plan ? planNodes(query.plan.root) : [],
      relation,
      relationOf: relationIn(query),
    };
    const comments = [
      ...new Set([...statementComments(query.query), ...(source ? statementComments(source.sql) : [])]),
    ];
    const directives = ignoreDirectives(comments);
    for (const d of directives) {
      for (const id of d.rules) {
        if (!known.has(id))
          warnings.add(`${query.source ?? query.fingerprint}: querygate-ignore names an unknown rule "${id}"`);
      }
    }
    const findings: Finding[] = [];
    const suppressed: SuppressedFinding[] = query.suppressed.filter((s) => s.source !== 'comment');
    for (const rule of registry) {
      const setting = resolved?.[rule.id];
      if (setting && !setting.enabled) continue;
      const options = setting?.options ?? rule.defaultOptions;
      let raw: readonly RuleFinding[];
      try {
        raw = rule.check({ ...context, options } as RuleContext<typeof options>);
      } catch (error) {
        // A rule bug must not cost the user the report of a whole run.
        warnings.add(
          `rule ${rule.id} failed on ${query.source ?? query.fingerprint} (a bug: please report it): ${error instanceof Error ? error.message : String(error)}`,
        );
        continue;
      }
      const severity = setting?.severity ?? rule.severity;
      const directive = directives.find((d) => d.rules.includes(rule.id));
      for (const r of raw) {
        const finding = toFinding(rule, severity, r);
        if (directive)
          suppressed.push({
            rule: rule.id,
            reason: directive.reason || '(no reason given)',
            source: 'comment',
            finding,
          });
        else findings.push(finding);
      }
    }
    const kept = timeAsContext(
      oneFindingPerFix(onePerPartitionedTable(findings, context.nodes, relation)),
      timing,
      query,
      report,
    );
    kept.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.rule.localeCompare(b.rule));
    return { ...query, findings: kept, suppressed };
  });
  return explainTimeInFunctions({ ...report, queries, warnings: [...warnings] }, timing);
}

/** Unsuppressed findings at `threshold` or worse, most severe first. */
export function findingsAtLeast(report: Report, threshold: Severity): { query: QueryReport; finding: Finding }[] {
  return report.queries
    .flatMap((query) =>
      query.findings.filter((f) => ORDER[f.severity] <= ORDER[threshold]).map((finding) => ({ query, finding })),
    )
    .sort((a, b) => ORDER[a.finding.severity] - ORDER[b.finding.severity] || b.query.totalMs - a.query.totalMs);
}
