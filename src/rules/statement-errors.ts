/**
 * statement-errors: calls of a statement failed during the replay. A statement that fails on every
 * call is a broken deploy waiting to happen (a missing column, a type error, a division by zero on
 * real data); one that fails now and then costs the database work it throws away, and its failed
 * executions are not in pg_stat_statements, so its cost is under-reported. Read from the client's
 * error counts and messages.
 */
import { defineRule } from './define.js';

export default defineRule({
  id: 'statement-errors',
  severity: 'error',
  category: 'volume',
  description:
    'Calls of a statement failed during the replay: the workload, the schema or the data it expects is broken.',
  messages: {
    failed: 'failed on {errors} of {attempts} calls ({errorPercent}%): {sample}',
  },
  defaultOptions: {
    /** Share of failed calls from which it is a clear case (below: one step milder). */
    failShare: 0.5,
    /** Share of failed calls below which nothing is reported. */
    minShare: 0.01,
  },
  check({ query, options }) {
    if (query.errors <= 0) return [];
    const attempts = query.calls + query.errors;
    const share = query.errors / attempts;
    if (share < options.minShare) return [];
    const sample = query.errorSamples[0] ?? 'no message recorded';
    return [
      {
        messageId: 'failed',
        ...(share < options.failShare ? { level: 'mild' as const } : {}),
        evidence: {
          errors: query.errors,
          attempts,
          errorShare: Math.round(share * 1000) / 1000,
          ...Object.fromEntries(query.errorSamples.map((m, i) => [`message${i + 1}`, m])),
        },
        data: { sample, errorPercent: Math.round(share * 1000) / 10 },
        suggestion: suggest(sample),
      },
    ];
  },
});

function suggest(message: string): string {
  if (/duplicate key value violates unique constraint/i.test(message))
    return 'the replay sent a key that already exists: draw unique columns from a `seq` generator, or let the database assign them';
  if (/violates foreign key constraint/i.test(message))
    return 'the replay referenced rows that do not exist: draw the key from values the seed creates (an `int` range or a `pick` list that matches it)';
  if (/^cancelled by querygate|statement timeout/i.test(message))
    return 'the statement ran longer than the run allows: it is the costliest one, not a broken one; fix its plan (see its plan and other findings), and count its failed calls as the cost pg_stat_statements does not show';
  return "fix the statement or the data it expects (the message above is PostgreSQL's); its failed calls are not in pg_stat_statements, so its cost here is under-reported";
}
