/**
 * A suggestion without the note on the report's other statements that use its index (`-- 2 other
 * statement(s) reading public.t use it too: ...`), for tests about what it says of its own statement.
 */
export function withoutOtherStatements(suggestion: string | undefined): string | undefined {
  return suggestion?.replace(/ -- \d+ other statement\(s\) reading .*?(?= -- or: |$)/, '');
}
