import type { ParamGenerator } from '../model/workload.js';

/** A small, fast, seedable PRNG (mulberry32): the same seed replays the same parameters. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Produces parameter values as text, as they are sent to the server (null stays null). */
export type ValueSource = () => string | null;

/**
 * Builds one value source per generator, drawing from one stream in call order; `seq` counters are
 * shared by every caller of the result. (HTTP routes; the SQL replay draws by call number,
 * `createStatementValues`.)
 */
export function createValueSources(generators: readonly ParamGenerator[], random: () => number): ValueSource[] {
  return generators.map((g): ValueSource => {
    switch (g.kind) {
      case 'int':
        return () => String(g.min + Math.floor(random() * (g.max - g.min + 1)));
      case 'pick':
        return () => {
          const v = g.values[Math.floor(random() * g.values.length)];
          return v === null || v === undefined ? null : String(v);
        };
      case 'seq': {
        let next = g.start;
        return () => {
          const v = next;
          next += g.step;
          return String(v);
        };
      }
      case 'string':
        return () => {
          let s = '';
          for (let i = 0; i < g.length; i++) s += g.alphabet[Math.floor(random() * g.alphabet.length)];
          return s;
        };
      case 'value':
        return () => (g.value === null ? null : String(g.value));
    }
  });
}

/** Picks an index with probability proportional to its weight. */
export function createWeightedPicker(weights: readonly number[], random: () => number): () => number {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) {
    total += w;
    cumulative.push(total);
  }
  return () => {
    const r = random() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r < cumulative[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/** A 32-bit finalizer (splitmix32's): every bit of the input moves every bit of the output. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** A 32-bit hash of a text (FNV-1a over its UTF-16 code units, then mixed). */
function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** The Weyl increment of the call number, as in splitmix: consecutive calls land far apart. */
const GOLDEN = 0x9e3779b9;
const TWO_32 = 4294967296;

/**
 * The parameter values of one statement's call number `call` (0, 1, ...). `seqCall` is the number
 * a `seq` counts from: the call number plus the warm-up's calls, whose `seq` values come first
 * (an insert in the warm-up and one in the measured calls must not collide).
 */
export type CallValues = (call: number, seqCall: number) => (string | null)[];

/** One parameter's value of a call, from the parameter's own seed. */
type CallValue = (call: number, seqCall: number) => string | null;

function createCallValue(g: ParamGenerator, seed: number): CallValue {
  // A counter-based draw (as splitmix: the call number's Weyl step, mixed), so that call j has its
  // values whatever calls were drawn before it, on any connection or thread. `| 0` keeps the hot
  // path on small integers; the bits are the same.
  const bits = (call: number) => mix32((seed + Math.imul(call, GOLDEN)) | 0);
  switch (g.kind) {
    case 'int': {
      // A uniform number in [0, 1) times the span, as one multiplication: 2^32 divides exactly.
      const scale = (g.max - g.min + 1) / TWO_32;
      return (call) => String(g.min + Math.floor(bits(call) * scale));
    }
    case 'pick': {
      const scale = g.values.length / TWO_32;
      return (call) => {
        const v = g.values[Math.floor(bits(call) * scale)];
        return v === null || v === undefined ? null : String(v);
      };
    }
    case 'seq':
      return (_, seqCall) => String(g.start + seqCall * g.step);
    case 'string': {
      const scale = g.alphabet.length / TWO_32;
      return (call) => {
        // The call's bits seed a mulberry32 stream for its characters.
        let a = bits(call);
        let s = '';
        for (let i = 0; i < g.length; i++) {
          a = (a + 0x6d2b79f5) | 0;
          let t = Math.imul(a ^ (a >>> 15), a | 1);
          t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
          s += g.alphabet[Math.floor(((t ^ (t >>> 14)) >>> 0) * scale)];
        }
        return s;
      };
    }
    case 'value': {
      const value = g.value === null ? null : String(g.value);
      return () => value;
    }
  }
}

/** Values of every call of one statement, each parameter from a seed of its own. */
function createCallValues(generators: readonly ParamGenerator[], seed: number): CallValues {
  const values = generators.map((g, k) => createCallValue(g, mix32(seed ^ mix32(k + 1))));
  const n = values.length;
  return (call, seqCall) => {
    const out = new Array<string | null>(n);
    for (let k = 0; k < n; k++) out[k] = values[k]!(call, seqCall);
    return out;
  };
}

/** The run's seed as 32 bits; a seed of more than 32 bits keeps its high bits too. */
function seedBits(seed: number): number {
  return mix32((seed >>> 0) ^ mix32(Math.floor(seed / TWO_32) >>> 0));
}

/**
 * What a statement's values are keyed by: its text, whitespace collapsed (re-indenting a YAML block
 * changes nothing), never its position, so that adding, removing or reordering other statements
 * leaves its values alone. A second statement of the same text is told apart by its order among
 * those of that text.
 */
function statementKeys(statements: readonly { readonly sql: string }[]): string[] {
  const seen = new Map<string, number>();
  return statements.map((s) => {
    const text = s.sql.trim().replace(/\s+/g, ' ');
    const n = seen.get(text) ?? 0;
    seen.set(text, n + 1);
    return n === 0 ? text : `${text}\0${n}`;
  });
}

/** Which calls the values are for: the measured ones, or the warm-up's (a stream of their own). */
export type CallKind = 'measured' | 'warm-up';

/**
 * Each statement's values by call number. Call j of a statement gets values that depend only on
 * the seed, the statement's text (`statementKeys`), its generators and j: not on the other
 * statements, their weights or order, the connections or threads, nor on the warm-up (except `seq`,
 * which continues after the warm-up's values). So runs with the same seed send a statement the same
 * values for the same number of calls, and a run of fewer calls the first of them.
 *
 * @example
 * const [byId] = createStatementValues([{ sql: 'SELECT $1::int', params: [{ kind: 'int', min: 1, max: 9 }] }], 1);
 * byId!(0, 0); // the first call's values: ['6'] (seed 1)
 */
export function createStatementValues(
  statements: readonly { readonly sql: string; readonly params: readonly ParamGenerator[] }[],
  seed: number,
  kind: CallKind = 'measured',
): CallValues[] {
  const base = kind === 'measured' ? seedBits(seed) : mix32(seedBits(seed) ^ 0x5bd1e995);
  const keys = statementKeys(statements);
  return statements.map((s, i) => createCallValues(s.params, mix32(base ^ hashText(keys[i]!))));
}
