/**
 * Regenerates the rule fixtures in fixtures/plans/<rule-id>/ on an embedded PostgreSQL, through
 * querygate's library API, so they can be refreshed whenever PostgreSQL changes its plans:
 *
 *   npm run fixtures:plans                  # every rule
 *   npm run fixtures:plans -- sort-spill    # some rules
 *
 * Every `<name>.yaml` in a rule's folder is a scenario (setup files, load, statements named by the
 * case they stand for); `<name>.analyze.yaml` is captured with EXPLAIN ANALYZE. Each is run in a
 * fresh database and written to `<name>.json` as
 * `{ scenario, server, statements, report }`, where `statements` is what the replaying client sent
 * (for literals and comments, as `finalizeReport` passes them to the rules) and the report's
 * findings are emptied: the rule tests compute them.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceStatement } from '../src/analyze/engine.js';
import { loadParser } from '../src/analyze/parser.js';
import type { Report } from '../src/model/report.js';
import { runOnTarget } from '../src/run/run.js';
import { startEmbedded } from '../src/target/embedded.js';
import { openSession } from '../src/target/pg.js';
import { openTarget } from '../src/target/target.js';
import { loadScenario } from '../src/workload/load.js';
import { runHttpOnTarget } from '../src/workload/http/phases.js';
import { isHttpScenario, loadHttpScenario } from '../src/workload/http/scenario.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PLANS = join(ROOT, 'fixtures', 'plans');

/** The file a rule test reads. */
export interface PlanFixture {
  /** The scenario it was captured from, relative to the repository. */
  readonly scenario: string;
  readonly analyze: boolean;
  readonly server: string;
  readonly statements: readonly SourceStatement[];
  readonly report: Report;
}

function scenariosOf(ruleIds: readonly string[]): { rule: string; file: string }[] {
  const rules = readdirSync(PLANS).filter((d) => statSync(join(PLANS, d)).isDirectory());
  const unknown = ruleIds.filter((id) => !rules.includes(id));
  if (unknown.length > 0) throw new Error(`no fixture folder for: ${unknown.join(', ')} (known: ${rules.join(', ')})`);
  return rules
    .filter((r) => ruleIds.length === 0 || ruleIds.includes(r))
    .flatMap((rule) =>
      readdirSync(join(PLANS, rule))
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((file) => ({ rule, file })),
    );
}

async function capture(adminUrl: string, rule: string, file: string, index: number): Promise<void> {
  const path = join(PLANS, rule, file);
  const analyze = /\.analyze\.ya?ml$/.test(file);
  const database = `fixture_${index}_${rule.replace(/-/g, '_')}`;
  const admin = await openSession(adminUrl);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.close();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const setup = await openSession(url.toString());
  try {
    await setup.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } finally {
    await setup.close();
  }
  const scenario = relative(ROOT, path);
  if (isHttpScenario(scenario)) return captureHttp(url.toString(), scenario, analyze);
  const workload = loadScenario(scenario, {});
  const target = await openTarget({ databaseUrl: url.toString() });
  const started = Date.now();
  try {
    const report = await runOnTarget(target, { workload, setup: true, allowWrites: true, analyze, seed: 1 });
    const stripped: Report = {
      ...report,
      queries: report.queries.map((q) => ({ ...q, findings: [], suppressed: [] })),
    };
    const fixture: PlanFixture = {
      scenario,
      analyze,
      server: report.target.serverVersion,
      statements: workload.statements.map((s) => ({ fingerprint: s.fingerprint, sql: s.sql })),
      report: stripped,
    };
    const out = path.replace(/\.ya?ml$/, '.json');
    writeFileSync(out, `${JSON.stringify(fixture, null, 1)}\n`);
    const missing = workload.statements.filter(
      (s) => !report.queries.some((q) => q.fingerprint === s.fingerprint && q.plan),
    );
    console.log(
      `${relative(ROOT, out)}: ${report.queries.length} statement(s) in ${Date.now() - started} ms` +
        (missing.length ? ` (no plan for: ${missing.map((s) => s.name).join(', ')})` : ''),
    );
  } finally {
    await target.close();
  }
}

/**
 * An HTTP scenario (n-plus-one): the application sends the statements, so they have no name and no
 * client text; the fixture names each by its normalized text, which the rule tests use.
 */
async function captureHttp(url: string, scenario: string, analyze: boolean): Promise<void> {
  const target = await openTarget({ databaseUrl: url });
  const started = Date.now();
  try {
    const report = await runHttpOnTarget(target, {
      workload: loadHttpScenario(scenario),
      setup: true,
      // A database of its own, created for the capture: the scenario's write routes may commit.
      allowWrites: true,
      analyze,
      seed: 1,
    });
    const named: Report = {
      ...report,
      queries: report.queries.map((q) => ({ ...q, source: q.source ?? q.query, findings: [], suppressed: [] })),
    };
    const fixture: PlanFixture = {
      scenario,
      analyze,
      server: report.target.serverVersion,
      statements: [],
      report: named,
    };
    const out = join(ROOT, scenario.replace(/\.ya?ml$/, '.json'));
    writeFileSync(out, `${JSON.stringify(fixture, null, 1)}\n`);
    console.log(
      `${relative(ROOT, out)}: ${report.queries.length} statement(s), ${report.routes?.length ?? 0} route(s) in ${Date.now() - started} ms`,
    );
  } finally {
    await target.close();
  }
}

async function main(): Promise<void> {
  process.chdir(ROOT); // scenario paths in the fixtures are relative to the repository
  await loadParser();
  const jobs = scenariosOf(process.argv.slice(2).filter((a) => !a.startsWith('-')));
  const server = await startEmbedded();
  try {
    for (const [i, job] of jobs.entries()) await capture(server.url, job.rule, job.file, i);
  } finally {
    await server.stop();
  }
}

await main();
