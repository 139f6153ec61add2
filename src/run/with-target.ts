import { loadParser } from '../analyze/parser.js';
import { openTarget, type Target } from '../target/target.js';

/**
 * Opens the target (an embedded server when `databaseUrl` is undefined), runs `fn` on it and
 * closes it on every path, so that an embedded server never outlives the run. `connections`: the
 * replay's, which an embedded server is started with room for. `signal`: the run's interrupt, which
 * stops an embedded server's start-up. `setupFirst`: setup files will run
 * on the external database, and may create pg_stat_statements there (see `OpenTargetOptions`).
 */
export async function withTarget<T>(
  databaseUrl: string | undefined,
  onStep: ((message: string) => void) | undefined,
  fn: (target: Target) => Promise<T>,
  options: { readonly connections?: number; readonly setupFirst?: boolean; readonly signal?: AbortSignal } = {},
): Promise<T> {
  await loadParser();
  onStep?.(databaseUrl ? 'connecting to the database' : 'starting an embedded PostgreSQL');
  const target = await openTarget({
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
    ...(options.setupFirst ? { setupFirst: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    return await fn(target);
  } finally {
    await target.close();
  }
}
