import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/analyze/parser.js';
import type { Report } from '../../src/model/report.js';
import { captureClientCalls } from '../support/capture.js';
import { createTestDatabase, withSession } from '../support/db.js';

// A report by city: the planner has no statistics on lower(city) and guesses that one venue of 200
// matches, where every city has 40. Planned generically (an application's statement, values
// unknown), an index on bookings.seat_id makes a plan of nested loops, one probe per seat of that
// one venue's events; run with a real city, it probes 40 times as often and does more work than the
// hash join it replaces.
const SCHEMA = `
CREATE SCHEMA tix;
CREATE TABLE tix.venues (id int PRIMARY KEY, name text NOT NULL, city text NOT NULL);
CREATE TABLE tix.events (id int PRIMARY KEY, venue_id int NOT NULL, title text NOT NULL);
CREATE TABLE tix.seats (id bigserial PRIMARY KEY, event_id int NOT NULL, price_cents int NOT NULL, booked boolean NOT NULL);
CREATE INDEX seats_event_idx ON tix.seats (event_id);
CREATE TABLE tix.bookings (id bigserial PRIMARY KEY, seat_id bigint NOT NULL, customer_id int NOT NULL, created_at timestamptz NOT NULL, price_cents int NOT NULL);
INSERT INTO tix.venues SELECT g, 'Venue ' || g, (ARRAY['Berlin', 'Paris', 'Rome', 'Madrid', 'Oslo'])[1 + g % 5] FROM generate_series(1, 200) g;
INSERT INTO tix.events SELECT g, 1 + g % 200, 'event ' || g FROM generate_series(1, 20000) g;
INSERT INTO tix.seats (event_id, price_cents, booked) SELECT e, 2000 + (s * 137) % 8000, (e * s) % 3 = 0 FROM generate_series(1, 20000) e, generate_series(1, 30) s;
INSERT INTO tix.bookings (seat_id, customer_id, created_at, price_cents)
  SELECT id, 1 + (id * 7919) % 100000, timestamptz '2026-01-01' - (id % 400) * interval '1 day', price_cents FROM tix.seats WHERE booked;
ANALYZE;
`;
const REPORT = `SELECT v.city, count(*) AS n, sum(b.price_cents) AS revenue
FROM tix.bookings b JOIN tix.seats s ON s.id = b.seat_id JOIN tix.events e ON e.id = s.event_id JOIN tix.venues v ON v.id = e.venue_id
WHERE lower(v.city) = lower($1) GROUP BY 1`;

describe('index advice on a generic plan the run contradicts', () => {
  let report: Report;

  beforeAll(async () => {
    await loadParser();
    const url = await createTestDatabase('advise_contradicted');
    await withSession(url, (session) => session.query(SCHEMA));
    report = await captureClientCalls(
      url,
      ['Berlin', 'Paris', 'Rome'].map((city) => [REPORT, [city]] as const),
      { allowIndexBuild: true },
    );
  });

  it('does not call an index validated whose nested loop rests on an outer estimate the blocks read belie', () => {
    const query = report.queries.find((q) => q.query.includes('lower(v.city)'))!;
    expect(query.plan?.mode).toBe('generic');
    const bookings = query.findings.find((f) => f.relation === 'tix.bookings')!;
    expect(bookings.advice).toBeUndefined();
    expect(bookings.suggestion).toContain(
      'CREATE INDEX CONCURRENTLY bookings_seat_id_idx ON tix.bookings (seat_id); -- not validated for the values the statement ran with',
    );
    expect(bookings.suggestion).toMatch(
      /the statement touched [\d,]+ shared blocks per call where that plan expects ~[\d,]+/,
    );
  });
});
