/** A workload as querygate replays it, whether it came from a SQL file or a scenario. */

/** Produces the value of one `$n` parameter for each call. */
export type ParamGenerator =
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'pick'; readonly values: readonly (string | number | boolean | null)[] }
  | { readonly kind: 'seq'; readonly start: number; readonly step: number }
  | { readonly kind: 'string'; readonly length: number; readonly alphabet: string }
  | { readonly kind: 'value'; readonly value: string | number | boolean | null };

export interface WorkloadStatement {
  /** Scenario name, or `file:line`. */
  readonly name: string;
  readonly sql: string;
  readonly weight: number;
  readonly params: readonly ParamGenerator[];
  /** Highest $n in the statement. */
  readonly paramCount: number;
  readonly fingerprint: string;
  readonly write: boolean;
}

export type LoadShape =
  | { readonly kind: 'repeat'; readonly repeat: number }
  | { readonly kind: 'count'; readonly count: number }
  | { readonly kind: 'duration'; readonly durationMs: number };

export interface SetupFile {
  readonly path: string;
  readonly sql: string;
}

export interface Workload {
  readonly kind: 'sql' | 'scenario';
  readonly name: string;
  readonly source?: string;
  readonly statements: readonly WorkloadStatement[];
  readonly setup: { readonly schema: readonly SetupFile[]; readonly seed: readonly SetupFile[] };
  readonly load: {
    readonly connections: number;
    readonly shape: LoadShape;
    readonly warmupMs: number;
    readonly rounds: number;
  };
}
