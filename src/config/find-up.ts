/** Finds a file by walking up from a directory, as git, npm and editors do. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The path of the first of `names` found in `start` or the nearest of its parents, if any;
 * `accept` decides what counts as found (default: the entry exists).
 */
export function findUp(
  start: string,
  names: readonly string[],
  accept: (path: string) => boolean = existsSync,
): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (accept(candidate)) return candidate;
    }
    if (dirname(dir) === dir) return undefined;
  }
}
