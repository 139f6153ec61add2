/** Size, statistics and index definitions of the relations that appear in captured plans. */
import type { IndexInfo, RelationInfo } from '../model/report.js';
import type { Session } from '../target/pg.js';
import { INTERNAL_MARK } from './statements.js';

const KINDS: Readonly<Record<string, RelationInfo['kind']>> = {
  r: 'table',
  p: 'partitioned-table',
  m: 'materialized-view',
};

/**
 * Describes relations by `schema.name`, or by a bare name as the search_path resolves it.
 */
export async function describeRelations(session: Session, names: readonly string[]): Promise<RelationInfo[]> {
  if (names.length === 0) return [];
  const { rows } = await session.query<{
    oid: number;
    schema: string;
    table: string;
    relkind: string;
    reltuples: number;
    relpages: number;
    size: number;
    total: number;
    live: number | null;
    analyzed: Date | null;
    leaves: { pages: number; size: number; total: number; live: number; count: number } | null;
    partkey: string[] | null;
    root: string | null;
    types: Record<string, string> | null;
    bases: Record<string, string> | null;
    ndistinct: Record<string, number> | null;
    correlation: Record<string, number> | null;
    nullfrac: Record<string, number> | null;
    notnull: string[] | null;
    generated: Record<string, string> | null;
  }>(
    `SELECT ${INTERNAL_MARK} c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table, c.relkind::text AS relkind,
            c.reltuples::float8 AS reltuples, c.relpages::int8 AS relpages,
            pg_relation_size(c.oid) AS size, pg_total_relation_size(c.oid) AS total,
            s.n_live_tup AS live, greatest(s.last_analyze, s.last_autoanalyze) AS analyzed,
            -- A partitioned table stores no rows itself (no blocks, no live rows, size 0): what it
            -- holds is what its leaf partitions hold, summed.
            CASE WHEN c.relkind = 'p' THEN (
              SELECT json_build_object(
                       'pages', coalesce(sum(greatest(lc.relpages, 0)), 0)::int8,
                       'size', coalesce(sum(pg_relation_size(lc.oid)), 0)::int8,
                       'total', coalesce(sum(pg_total_relation_size(lc.oid)), 0)::int8,
                       'live', coalesce(sum(ls.n_live_tup), 0)::int8,
                       'count', count(*))
                FROM pg_partition_tree(c.oid) t
                JOIN pg_class lc ON lc.oid = t.relid
                LEFT JOIN pg_stat_all_tables ls ON ls.relid = lc.oid
               WHERE t.isleaf) END AS leaves,
            -- The columns a partitioned table's partitions are bounded by (an expression key has none).
            CASE WHEN c.relkind = 'p' THEN array(
              SELECT a.attname::text
                FROM pg_partitioned_table pt
                CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) WITH ORDINALITY u(attnum, k)
                JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = u.attnum
               WHERE pt.partrelid = c.oid
               ORDER BY u.k) END AS partkey,
            CASE WHEN c.relispartition THEN (
              SELECT rn.nspname || '.' || r.relname FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace
               WHERE r.oid = pg_partition_root(c.oid)) END AS root,
            (SELECT json_object_agg(a.attname, format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS types,
            -- A domain column's base type, through domains over domains: plans cast its values to it.
            (SELECT json_object_agg(a.attname, (
                      WITH RECURSIVE base AS (
                        SELECT t.typtype, t.typbasetype, t.typname FROM pg_type t WHERE t.oid = a.atttypid
                        UNION ALL
                        SELECT t.typtype, t.typbasetype, t.typname
                          FROM base JOIN pg_type t ON t.oid = base.typbasetype WHERE base.typtype = 'd')
                      SELECT typname FROM base WHERE typtype <> 'd') ORDER BY a.attnum)
               FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND at.typtype = 'd') AS bases,
            -- A partitioned table's statistics cover its partitions (inherited); a table's own
            -- are those of its rows alone. pg_stats shows only what the role may read.
            (SELECT json_object_agg(st.attname, st.n_distinct)
               FROM pg_stats st
              WHERE st.schemaname = n.nspname AND st.tablename = c.relname
                AND st.inherited = (c.relkind = 'p')) AS ndistinct,
            -- How closely each column follows the table's physical order (-1..1): what a BRIN
            -- index's block ranges can skip. None for a partitioned table, which has no blocks.
            (SELECT json_object_agg(st.attname, st.correlation)
               FROM pg_stats st
              WHERE st.schemaname = n.nspname AND st.tablename = c.relname
                AND NOT st.inherited AND st.correlation IS NOT NULL) AS correlation,
            (SELECT json_object_agg(st.attname, st.null_frac)
               FROM pg_stats st
              WHERE st.schemaname = n.nspname AND st.tablename = c.relname
                AND st.inherited = (c.relkind = 'p')) AS nullfrac,
            array(SELECT a.attname::text FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
                   ORDER BY a.attnum) AS notnull,
            -- Stored generated columns and the expression each holds (attgenerated 's'; PostgreSQL
            -- 18's virtual ones, 'v', cannot be indexed).
            (SELECT json_object_agg(a.attname, pg_get_expr(d.adbin, d.adrelid) ORDER BY a.attnum)
               FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = 's') AS generated
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
      WHERE c.relkind IN ('r', 'p', 'm')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND (n.nspname || '.' || c.relname = ANY($1::text[])
             -- A name without its schema: when it exists in several schemas, keep the one the
             -- search_path makes visible, as the planner did.
             OR (c.relname = ANY($1::text[]) AND (pg_table_is_visible(c.oid) OR NOT EXISTS (
                   SELECT 1 FROM pg_class c2 WHERE c2.relname = c.relname AND c2.oid <> c.oid
                      AND c2.relkind IN ('r', 'p', 'm') AND pg_table_is_visible(c2.oid)))))`,
    [names],
  );
  const oids = rows.map((r) => r.oid);
  const indexes = await describeIndexes(session, oids);
  return rows
    .map((r) => ({
      name: `${r.schema}.${r.table}`,
      schema: r.schema,
      table: r.table,
      kind: KINDS[r.relkind] ?? 'other',
      estimatedRows: r.reltuples,
      liveRows: r.leaves?.live ?? r.live ?? 0,
      pages: r.leaves?.pages ?? r.relpages,
      sizeBytes: r.leaves?.size ?? r.size,
      totalSizeBytes: r.leaves?.total ?? r.total,
      lastAnalyzed: r.analyzed ? new Date(r.analyzed).toISOString() : null,
      ...(r.root ? { partitionOf: r.root } : {}),
      ...(r.leaves ? { partitionCount: r.leaves.count } : {}),
      ...(r.partkey && r.partkey.length > 0 ? { partitionKey: r.partkey } : {}),
      ...(r.types ? { columnTypes: r.types } : {}),
      ...(r.bases ? { domainBaseTypes: r.bases } : {}),
      ...(r.ndistinct ? { nDistinct: r.ndistinct } : {}),
      ...(r.correlation ? { correlation: r.correlation } : {}),
      ...(r.nullfrac ? { nullFraction: r.nullfrac } : {}),
      ...(r.notnull ? { notNullColumns: r.notnull } : {}),
      ...(r.generated ? { generatedColumns: r.generated } : {}),
      indexes: indexes.get(r.oid) ?? [],
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

async function describeIndexes(session: Session, oids: readonly number[]): Promise<Map<number, IndexInfo[]>> {
  const result = new Map<number, IndexInfo[]>();
  if (oids.length === 0) return result;
  const { rows } = await session.query<{
    rel: number;
    name: string;
    definition: string;
    method: string;
    unique: boolean;
    primary: boolean;
    partial: boolean;
    valid: boolean;
    size: number;
    keys: (string | null)[];
    exprs: string[];
  }>(
    `SELECT ${INTERNAL_MARK} i.indrelid::int8 AS rel, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
            am.amname AS method, i.indisunique AS unique, i.indisprimary AS primary,
            i.indpred IS NOT NULL AS partial, i.indisvalid AS valid,
            -- A partitioned index (relkind 'I') has no storage: its size is its partitions' indexes'.
            CASE WHEN ic.relkind = 'I' THEN (
              SELECT coalesce(sum(pg_relation_size(t.relid)), 0)::int8
                FROM pg_partition_tree(i.indexrelid) t WHERE t.isleaf)
            ELSE pg_relation_size(i.indexrelid) END AS size,
            array(SELECT CASE WHEN i.indkey[k - 1] = 0 THEN NULL ELSE a.attname::text END
                    FROM generate_series(1, i.indnkeyatts) k
                    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]
                   ORDER BY k) AS keys,
            array(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k
                   WHERE i.indkey[k - 1] = 0 ORDER BY k) AS exprs
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = ANY($1::oid[])
      ORDER BY ic.relname`,
    [oids],
  );
  for (const r of rows) {
    const list = result.get(r.rel) ?? [];
    list.push({
      name: r.name,
      definition: r.definition,
      method: r.method,
      columns: r.keys,
      expressions: r.exprs,
      unique: r.unique,
      primary: r.primary,
      partial: r.partial,
      valid: r.valid,
      sizeBytes: r.size,
    });
    result.set(r.rel, list);
  }
  return result;
}
