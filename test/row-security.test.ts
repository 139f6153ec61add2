/**
 * Row-level security and the role plans are made as. An application that runs as a role its
 * tables' policies filter (`tenant_id = current_setting('app.tenant')::int`) gets plans with the
 * policy in them; querygate's EXPLAIN, as a superuser or the tables' owner, gets plans without it.
 * The run says so, and plans as the application does when told its role and settings.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../src/analyze/parser.js';
import { walkPlan } from '../src/analyze/plan.js';
import { EnvironmentError, InputError } from '../src/errors.js';
import type { QueryReport, Report } from '../src/model/report.js';
import { captureCommand, type CaptureOptions } from '../src/workload/command.js';
import { createTestDatabase, withSession } from './support/db.js';
import { renderTable } from '../src/report/table.js';

const APP = fileURLToPath(new URL('./fixtures/tenant-app.mjs', import.meta.url));

/** 40,000 customers of 40 tenants (tenant 1 holds 30%), a tenant policy, and a role it filters. */
const SCHEMA = `
CREATE SCHEMA rls;
GRANT USAGE ON SCHEMA rls TO qg_rls_app;
CREATE TABLE rls.customers (id int PRIMARY KEY, tenant_id int NOT NULL, name text NOT NULL);
CREATE INDEX customers_tenant_idx ON rls.customers (tenant_id, id);
INSERT INTO rls.customers
SELECT g, CASE WHEN g % 10 < 3 THEN 1 ELSE 2 + g % 39 END,
       'Customer ' || g || ' ' || (ARRAY['Acme', 'Globex', 'Initech', 'Hooli'])[1 + g % 4]
FROM generate_series(1, 40000) g;
ALTER TABLE rls.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rls.customers USING (tenant_id = current_setting('app.tenant')::int);
GRANT SELECT ON rls.customers TO qg_rls_app;
ANALYZE rls.customers;
`;

const SEARCH_START = 'SELECT id, name FROM rls.customers WHERE name ILIKE $1';

async function createRole(url: string, sql: string): Promise<void> {
  await withSession(url, (s) => s.query(`DO $$ BEGIN ${sql}; EXCEPTION WHEN duplicate_object THEN NULL; END $$`));
}

/** The application's load under capture, on `url`, as APP_ROLE. */
function capture(url: string, appRole: string, options: Partial<CaptureOptions> = {}): Promise<Report> {
  return captureCommand({
    command: [process.execPath, APP],
    databaseUrl: url,
    env: { ...process.env, APP_ROLE: appRole },
    stdio: 'ignore',
    files: { schema: [], seed: [] },
    ...options,
  });
}

const search = (report: Report): QueryReport => report.queries.find((q) => q.query.startsWith(SEARCH_START))!;

/** Every condition of the plan's nodes, one string. */
function conditions(q: QueryReport): string {
  return walkPlan(q.plan!.root)
    .flatMap(({ node }) => [node.Filter, node['Index Cond'], node['Recheck Cond']])
    .filter((c) => c !== undefined)
    .join(' ');
}

/** The node types of the plan's nodes that read the table. */
const scanned = (q: QueryReport): string[] =>
  walkPlan(q.plan!.root)
    .filter(({ node }) => node['Relation Name'] === 'customers')
    .map(({ node }) => node['Node Type']);

describe('row-level security', () => {
  let url: string;
  beforeAll(async () => {
    await loadParser();
    url = await createTestDatabase('rls');
    // Roles are the cluster's: created once on the shared server, whichever database comes first.
    await createRole(url, 'CREATE ROLE qg_rls_app NOLOGIN');
    await withSession(url, (s) => s.query(SCHEMA));
  });

  it('warns that a plan made as a superuser leaves out the policies the application ran under', async () => {
    const report = await capture(url, 'qg_rls_app');
    const q = search(report);
    expect(q.calls).toBe(4);
    // The superuser's plan: every tenant's rows, no policy.
    expect(conditions(q)).not.toContain('tenant_id');
    expect(scanned(q)).toContain('Seq Scan');
    expect(q.planNote).toContain('bypasses the row-level security of rls.customers');
    expect(q.planNote).toContain('--explain-role qg_rls_app --explain-setting app.tenant=<value>');
    const warning = report.warnings.find((w) => w.includes('bypasses the row-level security'));
    expect(warning).toContain('"qg_rls_app"');
    expect(warning).toContain('rls.customers');
    expect(q.findings.length).toBeGreaterThan(0);
    for (const f of q.findings) expect(f.caveat).toContain('may not be the application');
    expect(renderTable(report, { width: 160 })).toContain('caveat: its plan was made as');
    // An application that runs as a role the policies do not filter either ran what the plan shows.
    const unfiltered = await capture(url, 'none');
    expect(search(unfiltered).planNote).toBeUndefined();
    expect(unfiltered.warnings.join('\n')).not.toContain('row-level security');
  });

  it('plans as the application does with its role and settings: the policy is in the plan', async () => {
    const report = await capture(url, 'qg_rls_app', {
      explainAs: { role: 'qg_rls_app', settings: { 'app.tenant': '2' } },
    });
    const q = search(report);
    expect(conditions(q)).toMatch(/tenant_id = \(current_setting\('app\.tenant'::text\)\)::integer/);
    expect(scanned(q)).not.toContain('Seq Scan');
    expect(q.planNote).toBeUndefined();
    expect(report.warnings.join('\n')).not.toContain('row-level security');
    expect(q.findings.filter((f) => f.rule === 'seq-scan-large-table')).toEqual([]);
    expect(report.workload.explainAs).toEqual({ role: 'qg_rls_app', settings: { 'app.tenant': '2' } });
  });

  it('refuses a role that does not exist (exit 2) or that it may not become (exit 3), before the load', async () => {
    const missing = await capture(url, 'qg_rls_app', { explainAs: { role: 'qg_rls_nobody' } }).catch((e) => e);
    expect(missing).toBeInstanceOf(InputError);
    expect(missing.code).toBe('EXPLAIN_AS_INVALID');
    expect(missing.message).toContain('role "qg_rls_nobody" does not exist');
    await createRole(url, "CREATE ROLE qg_rls_login LOGIN PASSWORD 'rlslogin'");
    await withSession(url, (s) => s.query('GRANT pg_read_all_stats TO qg_rls_login'));
    const login = new URL(url);
    login.username = 'qg_rls_login';
    login.password = 'rlslogin';
    const denied = await capture(login.toString(), 'none', { explainAs: { role: 'qg_rls_app' } }).catch((e) => e);
    expect(denied).toBeInstanceOf(EnvironmentError);
    expect(denied.code).toBe('PG_PERMISSION_DENIED');
    expect(denied.message).toContain('permission denied to set role "qg_rls_app"');
  });
});

describe('row-level security forced on the owner', () => {
  let ownerUrl: string;
  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('rls_force');
    await createRole(url, 'CREATE ROLE qg_rls_app NOLOGIN');
    await createRole(url, "CREATE ROLE qg_rls_owner LOGIN PASSWORD 'rlsowner'");
    await withSession(url, async (s) => {
      await s.query(SCHEMA);
      await s.query('ALTER TABLE rls.customers OWNER TO qg_rls_owner; ALTER SCHEMA rls OWNER TO qg_rls_owner');
      await s.query('ALTER TABLE rls.customers FORCE ROW LEVEL SECURITY');
      await s.query('GRANT pg_read_all_stats TO qg_rls_owner');
    });
    const u = new URL(url);
    u.username = 'qg_rls_owner';
    u.password = 'rlsowner';
    ownerUrl = u.toString();
  });

  it('names the setting every EXPLAIN missed and how to give it', async () => {
    const report = await capture(ownerUrl, 'none');
    const q = search(report);
    expect(q.plan).toBeNull();
    expect(q.planNote).toContain('unrecognized configuration parameter "app.tenant"');
    const warning = report.warnings.find((w) => w.includes('could not be planned'));
    expect(warning).toContain('--explain-setting app.tenant=<value>');
  });

  it('plans with the setting given', async () => {
    const report = await capture(ownerUrl, 'none', { explainAs: { settings: { 'app.tenant': '3' } } });
    const q = search(report);
    expect(q.plan).not.toBeNull();
    expect(conditions(q)).toContain("current_setting('app.tenant'::text)");
    expect(report.warnings.join('\n')).not.toContain('app.tenant');
  });
});
