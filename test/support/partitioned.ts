/**
 * A range-partitioned events table for tests on a real PostgreSQL: one partition per month, rows
 * generated in SQL, then ANALYZE. Columns: id, tenant_id, event_type ('view', 'click', 'buy' in
 * turn), created_at (the partition key) and payload.
 */
export interface PartitionedEvents {
  /** `events`, or schema-qualified (`analytics.events`: the schema is created). */
  readonly table?: string;
  /** The months, `YYYY-MM` in order, one partition each (the last one ends a month after it). */
  readonly months: readonly string[];
  /**
   * `{ perMonth: n }`: the i-th month (from 0) gets n × (i + 1) rows, spread over its first 27 days,
   * so that each partition is larger than the one before. `{ total: n, days: d }`: n rows spread
   * evenly over d days from the first month, a second apart within the day.
   */
  readonly rows: { readonly perMonth: number } | { readonly total: number; readonly days: number };
  /** The tenant of row `g`, as SQL (`g % 100`). */
  readonly tenant: string;
  /** Characters of payload per row (0: an empty payload). */
  readonly payloadWidth: number;
  /** PRIMARY KEY (id, created_at), on every partition. */
  readonly primaryKey?: boolean;
  /** A DEFAULT partition besides the months. */
  readonly defaultPartition?: boolean;
  /** SQL run after the rows are in, before ANALYZE (indexes, constraints dropped). */
  readonly extraDdl?: string;
}

const nextMonth = (month: string): string => {
  const [year, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${year + 1}-01` : `${year}-${String(m + 1).padStart(2, '0')}`;
};

/** The SQL that creates and fills the table, and analyzes it. */
export function partitionedEventsSql(options: PartitionedEvents): string {
  const table = options.table ?? 'events';
  const dot = table.lastIndexOf('.');
  const schema = dot >= 0 ? table.slice(0, dot) : undefined;
  const first = options.months[0]!;
  const partitions = options.months.map(
    (m) =>
      `CREATE TABLE ${table}_${m.replace('-', '_')} PARTITION OF ${table} FOR VALUES FROM ('${m}-01') TO ('${nextMonth(m)}-01');`,
  );
  if (options.defaultPartition) partitions.push(`CREATE TABLE ${table}_default PARTITION OF ${table} DEFAULT;`);
  const columns = `${options.tenant}, (ARRAY['view', 'click', 'buy'])[1 + g % 3]`;
  const payload = `repeat('p', ${options.payloadWidth})`;
  const insert =
    'perMonth' in options.rows
      ? `INSERT INTO ${table}
SELECT row_number() OVER (), ${columns},
       timestamptz '${first}-01' + m * interval '1 month' + (g % 27) * interval '1 day' + (g % 1440) * interval '1 minute',
       ${payload}
  FROM generate_series(0, ${options.months.length - 1}) AS m, generate_series(1, ${options.rows.perMonth} * (m + 1)) AS g;`
      : `INSERT INTO ${table}
SELECT g, ${columns},
       timestamptz '${first}-01' + (g % ${options.rows.days}) * interval '1 day' + (g % 86400) * interval '1 second',
       ${payload}
  FROM generate_series(1, ${options.rows.total}) AS g;`;
  return `
${schema ? `CREATE SCHEMA ${schema};` : ''}
CREATE TABLE ${table} (id bigint NOT NULL, tenant_id int NOT NULL, event_type text NOT NULL,
  created_at timestamptz NOT NULL, payload text NOT NULL${options.primaryKey ? ', PRIMARY KEY (id, created_at)' : ''})
  PARTITION BY RANGE (created_at);
${partitions.join('\n')}
${insert}
${options.extraDdl ?? ''}
ANALYZE ${table};
`;
}
