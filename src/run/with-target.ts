import { loadParser } from '../analyze/parser.js';
import { openTarget, type Target } from '../target/target.js';

/**
 * Opens the target (an embedded server when `databaseUrl` is undefined), runs `fn` on it and
 * closes it on every path, so that an embedded server never outlives the run.
 */
export async function withTarget<T>(
  databaseUrl: string | undefined,
  onStep: ((message: string) => void) | undefined,
  fn: (target: Target) => Promise<T>,
): Promise<T> {
  await loadParser();
  onStep?.(databaseUrl ? 'connecting to the database' : 'starting an embedded PostgreSQL');
  const target = await openTarget(databaseUrl ? { databaseUrl } : {});
  try {
    return await fn(target);
  } finally {
    await target.close();
  }
}
