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

/** Builds one value source per generator; `seq` counters are shared by every caller of the result. */
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
