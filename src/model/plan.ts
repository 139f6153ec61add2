/**
 * A node of PostgreSQL's `EXPLAIN (FORMAT JSON)` output, kept in PostgreSQL's own shape and key names
 * so that a report's plans read like the server's and survive future server versions. Only the keys
 * querygate relies on are typed; every other key is kept as-is.
 *
 * Units: costs are the planner's unitless estimates; times (ANALYZE only) are milliseconds per loop.
 */
export interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Parent Relationship'?: string;
  readonly 'Relation Name'?: string;
  readonly Schema?: string;
  readonly Alias?: string;
  readonly 'Index Name'?: string;
  readonly 'Startup Cost': number;
  readonly 'Total Cost': number;
  readonly 'Plan Rows': number;
  readonly 'Plan Width': number;
  readonly Filter?: string;
  readonly 'Index Cond'?: string;
  readonly 'Recheck Cond'?: string;
  readonly 'Join Filter'?: string;
  readonly 'Hash Cond'?: string;
  readonly 'Merge Cond'?: string;
  readonly 'Sort Key'?: readonly string[];
  readonly 'Sort Method'?: string;
  readonly 'Sort Space Used'?: number;
  readonly 'Sort Space Type'?: string;
  readonly 'Actual Rows'?: number;
  readonly 'Actual Loops'?: number;
  readonly 'Actual Total Time'?: number;
  readonly 'Rows Removed by Filter'?: number;
  readonly 'Rows Removed by Index Recheck'?: number;
  readonly 'Hash Batches'?: number;
  readonly 'Original Hash Batches'?: number;
  readonly 'Peak Memory Usage'?: number;
  readonly 'Disk Usage'?: number;
  readonly 'HashAgg Batches'?: number;
  readonly 'Planned Partitions'?: number;
  readonly 'Shared Hit Blocks'?: number;
  readonly 'Shared Read Blocks'?: number;
  readonly 'Temp Read Blocks'?: number;
  readonly 'Temp Written Blocks'?: number;
  readonly Plans?: readonly PlanNode[];
  readonly [key: string]: unknown;
}

/** How a plan was obtained. */
export type PlanMode =
  /** Planned with the parameter values the replay actually used. */
  | 'params'
  /** Planned as written: the statement has no parameters (its literal values are planned). */
  | 'literal'
  /** A generic plan (EXPLAIN (GENERIC_PLAN) on 16+, force_generic_plan on older servers). */
  | 'generic'
  /** EXPLAIN (ANALYZE, BUFFERS) executed inside a transaction that was rolled back. */
  | 'analyze';

/** The captured plan of one statement. */
export interface CapturedPlan {
  readonly mode: PlanMode;
  /** Parameter values used for `params` and `analyze` plans (as text, as sent). */
  readonly params?: readonly (string | null)[];
  /**
   * Types given to parameters of a generic plan that PostgreSQL could not type (`$1 + $2` in a
   * statement pg_stat_statements normalized: the constants' types are gone), by parameter (`$1`).
   */
  readonly assumedTypes?: Readonly<Record<string, string>>;
  /**
   * Why the plan was not analyzed although the run asked for `--analyze` (its parameter values are
   * unknown, every call failed); absent otherwise.
   */
  readonly notAnalyzed?: string;
  /** Root plan node. */
  readonly root: PlanNode;
  /** Root total cost, copied for quick ranking and budgets (unitless). */
  readonly totalCost: number;
  readonly planningMs?: number;
  /** ANALYZE only. */
  readonly executionMs?: number;
  /** Memory settings in effect when the plan was made (absent in reports made before they were recorded). */
  readonly settings?: PlanSettings;
  /**
   * The text that was explained, when it is not the statement's own: a statement that ran inside a
   * function names the function's variables (`p_id`, `NEW.amount`), which EXPLAIN cannot resolve;
   * they are parameters here (`$1`), so the plan is a generic one.
   */
  readonly sql?: string;
}

/**
 * The settings that decide whether a sort or hash spills: what a spill finding's fix must go above.
 * Read in the transaction that explains, so a database's or role's `ALTER ... SET` is included.
 */
export interface PlanSettings {
  /** `work_mem` in kB. */
  readonly workMemKb: number;
  /** `hash_mem_multiplier` (PostgreSQL 13+): hashes may use work_mem times this. */
  readonly hashMemMultiplier?: number;
}

/**
 * The role and session settings statements are planned as (`--explain-role`, `--explain-setting`,
 * a scenario's `explain:`), set with `SET LOCAL ROLE` and `set_config(..., true)` inside the
 * transaction each EXPLAIN runs in, so that nothing outlives it: what an application does in its
 * own transactions (`SET ROLE app`, `set_config('app.tenant', $1, true)`), so that its row-level
 * security policies are in the plan as they are in its queries.
 */
export interface ExplainAs {
  readonly role?: string;
  /** By setting name (`app.tenant`), as text. */
  readonly settings?: Readonly<Record<string, string>>;
}
