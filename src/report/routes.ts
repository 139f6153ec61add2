/**
 * The per-route part of the terminal summary (HTTP runs): what one request of each route costs the
 * database, and the routes that stand out. Pure: returns strings.
 */
import Table from 'cli-table3';
import type { QueryReport, Report, RouteReport } from '../model/report.js';
import { fitColumns, layoutWidth, leftOutNote, type Column } from './columns.js';
import { formatCount, formatMs, oneLine, routeRequest, wrapText } from './format.js';

export interface RoutesTableOptions {
  readonly color?: boolean;
  /** Terminal width, to size the statement column. */
  readonly width?: number;
}

/** Calls per request from which a statement counts as an N+1 loop (the n-plus-one rule's default). */
export const N_PLUS_ONE_CALLS = 10;

/** `"name" (GET /path)`, or `"name"` alone when the name says the request. */
const quoteRoute = (r: RouteReport) => {
  const request = routeRequest(r, r.name);
  return `"${r.name}"${request ? ` (${request})` : ''}`;
};

const byFingerprint = (report: Report) => new Map(report.queries.map((q) => [q.fingerprint, q]));

/** When the columns never left out at 80 columns go at a narrower width: the first here first. */
const NARROW_DROP_ORDER: Readonly<Record<string, number>> = { requests: 4, 'non-2xx': 5, p99: 6, 'stmts/req': 7 };

/** One row per route, most database time per request first. Empty string when the run had no routes. */
export function renderRoutesTable(report: Report, options: RoutesTableOptions = {}): string {
  const routes = [...(report.routes ?? [])].sort((a, b) => b.dbMsPerRequest - a.dbMsPerRequest);
  if (routes.length === 0) return '';
  const width = layoutWidth(options.width);
  const mixed = routes.some((r) => r.mixed);
  const queries = byFingerprint(report);
  const all: Column<RouteReport>[] = [
    {
      head: 'route',
      width: 30,
      dropOrder: 0,
      cell: (r) => [r.name, routeRequest(r, r.name)].filter(Boolean).join('\n'),
    },
    {
      head: 'requests',
      width: 10,
      dropOrder: 0,
      cell: (r) => formatCount(r.requests) + (r.errors ? ` (+${r.errors} err)` : ''),
    },
    { head: 'req/s', width: 8, dropOrder: 3, cell: (r) => formatCount(r.throughput) },
    { head: 'non-2xx', width: 9, dropOrder: 0, cell: (r) => (r.non2xx ? formatCount(r.non2xx) : '0') },
    { head: 'p50', width: 10, dropOrder: 2, cell: (r) => (r.requests > 0 ? formatMs(r.latency.p50) : '-') },
    { head: 'p99', width: 10, dropOrder: 0, cell: (r) => (r.requests > 0 ? formatMs(r.latency.p99) : '-') },
    ...(mixed
      ? [
          {
            head: 'p99 mixed',
            width: 11,
            dropOrder: 1,
            cell: (r: RouteReport) => (r.mixed && r.mixed.requests > 0 ? formatMs(r.mixed.latency.p99) : '-'),
          },
        ]
      : []),
    { head: 'db/req', width: 10, dropOrder: 0, cell: (r) => formatMs(r.dbMsPerRequest) },
    { head: 'stmts/req', width: 11, dropOrder: 0, cell: (r) => formatCount(r.statementsPerRequest) },
  ];
  const topOf = (r: RouteReport) => {
    const top = r.statements[0];
    const text = top ? queries.get(top.fingerprint)?.query : undefined;
    return top && text ? { text, calls: formatCount(top.callsPerRequest) } : undefined;
  };
  const style = options.color ? {} : { head: [], border: [] };
  const wide = fitColumns(all, width, 24);
  const wideTotal = wide.columns.reduce((n, c) => n + c.width + 1, 0) + 2 + wide.lastWidth;
  if (wideTotal <= width) {
    const { columns, lastWidth: statementWidth } = wide;
    const table = new Table({
      head: [...columns.map((c) => c.head), 'top statement (calls/req)'],
      style,
      wordWrap: true,
      colWidths: [...columns.map((c) => c.width), statementWidth],
    });
    routes.forEach((r, i) => {
      const top = topOf(r);
      table.push([
        ...columns.map((c) => c.cell(r, i)),
        top ? `${oneLine(top.text, statementWidth * 2 - 12)} (${top.calls})` : '-',
      ]);
    });
    const note = leftOutNote(wide.left, width, options.width);
    return [
      ...wrapText(`Routes (${routes.length}), by database time per request:`, width, 2, ''),
      table.toString(),
      ...(note ? wrapText(note, width, 2, '') : []),
    ].join('\n');
  }
  // A narrow terminal: the route is the free-width column, and each route's top statement a line
  // under the table.
  const [route, ...rest] = all;
  // Narrower than 80 columns, the columns kept so far go too, until db/req and the route are left.
  const narrowest = rest.map((c) => (c.dropOrder === 0 ? { ...c, dropOrder: NARROW_DROP_ORDER[c.head] ?? 0 } : c));
  const { columns, lastWidth: routeWidth, left } = fitColumns(narrowest, width, 20);
  const table = new Table({
    head: [...columns.map((c) => c.head), route!.head],
    style,
    wordWrap: true,
    colWidths: [...columns.map((c) => c.width), routeWidth],
  });
  routes.forEach((r, i) => table.push([...columns.map((c) => c.cell(r, i)), route!.cell(r, i)]));
  const note = leftOutNote(left, width, options.width);
  const tops = routes.flatMap((r) => {
    const top = topOf(r);
    return top
      ? wrapText(
          `${r.name}: ${oneLine(top.text, Math.max(20, width - r.name.length - 14))} (${top.calls})`,
          width,
          4,
          '  ',
        )
      : [];
  });
  return [
    ...wrapText(`Routes (${routes.length}), by database time per request:`, width, 2, ''),
    table.toString(),
    ...(note ? wrapText(note, width, 2, '') : []),
    ...(tops.length > 0 ? [...wrapText('Top statement per route (calls per request):', width, 2, ''), ...tops] : []),
  ].join('\n');
}

/** A statement run many times per request of one route. */
export interface NPlusOne {
  readonly route: RouteReport;
  readonly query: QueryReport;
  readonly callsPerRequest: number;
}

/** Statements that routes run `threshold` times or more per request, most calls first. */
export function findNPlusOne(report: Report, threshold = N_PLUS_ONE_CALLS): NPlusOne[] {
  const queries = byFingerprint(report);
  const found: NPlusOne[] = [];
  for (const route of report.routes ?? []) {
    for (const s of route.statements) {
      const query = queries.get(s.fingerprint);
      if (query && s.callsPerRequest >= threshold) found.push({ route, query, callsPerRequest: s.callsPerRequest });
    }
  }
  return found.sort((a, b) => b.callsPerRequest - a.callsPerRequest);
}

/** The conclusion of an HTTP run: the most expensive route with its statement, and the N+1 routes. */
export function renderRouteCulprits(report: Report): string {
  const routes = [...(report.routes ?? [])].sort((a, b) => b.dbMsPerRequest - a.dbMsPerRequest);
  const worst = routes[0];
  if (!worst) return '';
  const queries = byFingerprint(report);
  const others = routes.slice(1);
  const lines: string[] = [];
  const otherMean = others.length ? others.reduce((s, r) => s + r.dbMsPerRequest, 0) / others.length : 0;
  lines.push(
    `Slowest endpoint: ${quoteRoute(worst)} costs ${formatMs(worst.dbMsPerRequest)} of database time per request` +
      (otherMean > 0
        ? `, ${formatCount(Math.round(worst.dbMsPerRequest / otherMean))}x the average of the other routes`
        : '') +
      (worst.requests > 0 ? `; latency p50 ${formatMs(worst.latency.p50)}, p99 ${formatMs(worst.latency.p99)}` : '') +
      (worst.mixed && worst.mixed.requests > 0 ? ` (p99 ${formatMs(worst.mixed.latency.p99)} under mixed load)` : ''),
  );
  const top = worst.statements[0];
  const query = top ? queries.get(top.fingerprint) : undefined;
  if (top && query) {
    lines.push(`  its query: ${oneLine(query.query, 160)}`);
    lines.push(
      `  ${formatCount(top.callsPerRequest)} call(s) per request, ${formatMs(top.dbMsPerRequest)} per request, ` +
        `${formatCount(query.sharedBlksPerCall)} shared blocks per call`,
    );
    const rules = [...new Set(query.findings.map((f) => f.rule))];
    if (rules.length) lines.push(`  flagged by ${rules.join(', ')} (see the findings above)`);
  }
  for (const n of findNPlusOne(report)) {
    lines.push(
      `N+1: ${quoteRoute(n.route)} runs ${formatCount(n.callsPerRequest)} times per request: ${oneLine(n.query.query, 100)}` +
        ` (${formatCount(n.route.statementsPerRequest)} statements per request in all)`,
    );
    const finding = n.query.findings.find((f) => f.rule === 'n-plus-one' && f.route === n.route.name);
    lines.push(
      `  fix: ${finding?.suggestion ?? 'fetch the rows in one statement: WHERE id = ANY($1) with the list of ids, or a join'}`,
    );
  }
  return lines.join('\n');
}
