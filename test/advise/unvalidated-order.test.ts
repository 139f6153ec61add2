import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import { rewriteFirst } from '../../src/advise/advise.js';
import { generateCandidates } from '../../src/advise/candidates.js';
import type { Finding } from '../../src/model/finding.js';
import type { Report } from '../../src/model/report.js';
import { runSqlText } from '../support/db.js';

// 40,000 events at 200 venues, a fifth of them in the future, paged deep by starts_at with
// each event's venue: a hash join against the 200 venues, which keeps every event the filter keeps.
// On an external database without HypoPG and without --allow-index-build nothing is validated.
const SCHEMA = `
CREATE TABLE venues (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO venues SELECT g, 'venue ' || g FROM generate_series(1, 200) AS g;
CREATE TABLE events (id int PRIMARY KEY, venue_id int NOT NULL REFERENCES venues, title text NOT NULL,
  starts_at timestamptz NOT NULL);
INSERT INTO events SELECT g, g % 200 + 1, 'event ' || g, now() + (g - 32000) * interval '1 hour'
  FROM generate_series(1, 40000) AS g;
ANALYZE venues, events;
`;
const WORKLOAD = `SELECT e.id, e.title, e.starts_at, v.name AS venue FROM events e JOIN venues v ON v.id = e.venue_id
WHERE e.starts_at > now() ORDER BY e.starts_at LIMIT 20 OFFSET 2000;
`;

describe('unvalidated index advice beside a keyset rewrite', () => {
  let finding: Finding;
  let report: Report;
  beforeAll(async () => {
    await loadParser();
    report = await runSqlText('unvalidated_order', SCHEMA, WORKLOAD);
    const found = report.queries
      .flatMap((q) => q.findings)
      .find((f) => f.rule === 'seq-scan-large-table' && f.relation === 'public.events');
    expect(found).toBeDefined();
    finding = found!;
  });

  it('names the index the rewrite needs, not one on the join column of a small hashed table', () => {
    expect(finding.suggestion).toMatch(
      /^use keyset pagination instead of OFFSET: .*, with an index on \(starts_at, id\) .* -- or: CREATE INDEX CONCURRENTLY events_starts_at_id_idx ON public\.events \(starts_at, id\); -- not validated on the planner/,
    );
    expect(finding.suggestion).not.toMatch(/venue_id/);
  });

  it('proposes no index on the join column of a hash join that keeps every row the scan finds', () => {
    const query = report.queries.find((q) => q.findings.includes(finding))!;
    const candidates = generateCandidates(query, finding, report, { trigram: false });
    expect(candidates.map((c) => c.keys.join(', '))).toContain('starts_at');
    expect(candidates.some((c) => c.keys.includes('venue_id'))).toBe(false);
  });

  it('ranks first the candidate with the keys the keyset rewrite names, completed with its tie-breaker', () => {
    const query = report.queries.find((q) => q.findings.includes(finding))!;
    const candidates = generateCandidates(query, finding, report, { trigram: false });
    // Another candidate ranked before it (one on the join column, as without the rule above).
    const other = { ...candidates[0]!, keys: ['venue_id'], name: 'events_venue_id_idx' };
    const ranked = rewriteFirst([other, ...candidates], finding.suggestion);
    expect(ranked.map((c) => c.keys.join(', '))).toEqual(['starts_at, id', 'venue_id']);
  });
});
