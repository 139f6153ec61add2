/**
 * Every file the CLI writes goes through here: output paths are checked before any work (a long run
 * is never lost to a typo in --out), and a write that still fails becomes one line, not a stack.
 */
import { closeSync, mkdirSync, openSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EnvironmentError, InputError } from '../errors.js';

/** What a failed file-system call means to the user, with its code for a search engine. */
function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const reasons: Readonly<Record<string, string>> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOENT: 'cannot be created there',
    ENOTDIR: 'a part of the path is a file, not a directory',
    EEXIST: 'exists and is not a directory',
    EISDIR: 'is a directory',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
  };
  if (code === undefined) return (error as Error).message;
  return `${reasons[code] ?? 'failed'} (${code})`;
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Makes sure `path` can be written before any work starts: its directory is created if missing, it
 * is not a directory, and it can be opened for writing. An existing file is opened for append (its
 * content is left as it is); a new one is created and removed again.
 */
export function checkOutputFile(path: string | undefined, flag: string): void {
  if (path === undefined) return;
  const target = resolve(path);
  if (statOrUndefined(target)?.isDirectory()) {
    throw new InputError('OUTPUT_UNWRITABLE', `${flag} ${path}: is a directory; give a file path`);
  }
  const directory = dirname(target);
  try {
    mkdirSync(directory, { recursive: true });
  } catch (error) {
    throw new InputError(
      'OUTPUT_UNWRITABLE',
      `${flag} ${path}: cannot write to ${directory}: ${describeFsError(error)}`,
    );
  }
  try {
    if (statOrUndefined(target)) {
      closeSync(openSync(target, 'a'));
    } else {
      closeSync(openSync(target, 'wx'));
      unlinkSync(target);
    }
  } catch (error) {
    throw new InputError('OUTPUT_UNWRITABLE', `${flag} ${path}: cannot write to ${target}: ${describeFsError(error)}`);
  }
}

/**
 * Makes sure the directory `dir` exists (it is created if missing) and that each of `files` can be
 * written in it, before any work starts.
 */
export function checkOutputDirectory(dir: string | undefined, files: readonly string[], flag: string): void {
  if (dir === undefined) return;
  const stat = statOrUndefined(dir);
  if (stat && !stat.isDirectory()) {
    throw new InputError('OUTPUT_UNWRITABLE', `${flag} ${dir}: is a file, not a directory`);
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new InputError('OUTPUT_UNWRITABLE', `${flag} ${dir}: cannot create the directory: ${describeFsError(error)}`);
  }
  for (const file of files) checkOutputFile(join(dir, file), flag);
}

/**
 * Writes `text` to `path` (creating its directory). A failure here, after the checks passed, is the
 * environment's (disk full, a directory removed or replaced meanwhile): an EnvironmentError.
 */
export function writeOutputFile(path: string, text: string, flag: string): void {
  try {
    mkdirSync(dirname(resolve(path)), { recursive: true });
    writeFileSync(path, text);
  } catch (error) {
    throw new EnvironmentError('OUTPUT_WRITE_FAILED', `${flag} ${path}: cannot write to it: ${describeFsError(error)}`);
  }
}

/**
 * Saves a report that could not be written where asked to a new file in the OS temporary
 * directory, so that a measurement is not lost; returns its path.
 */
export function writeFallbackReport(text: string): string {
  const path = join(tmpdir(), `querygate-report-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.json`);
  try {
    writeFileSync(path, text, { flag: 'wx' });
  } catch (error) {
    throw new EnvironmentError(
      'OUTPUT_WRITE_FAILED',
      `could not save the report to ${path} either: ${describeFsError(error)}`,
    );
  }
  return path;
}
