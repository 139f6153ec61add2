/**
 * Where the workload file is, so that annotations (GitHub, SARIF, JUnit) point at it from wherever
 * a saved report is checked. A run records the path as given (relative to its own working
 * directory), plus the absolute path and the path inside the repository; `check` turns them back
 * into a path relative to its own working directory. Reports without them are used as they are.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { findUp } from '../config/find-up.js';
import type { Report } from '../model/report.js';

/** The nearest directory from `start` upwards with a `.git` entry (a directory, or a worktree's file). */
export function findRepositoryRoot(start: string): string | undefined {
  const git = findUp(start, ['.git']);
  return git === undefined ? undefined : dirname(git);
}

const posix = (path: string) => path.split(sep).join('/');

/**
 * The report with its workload file located: `workload.sourcePath` (absolute, on this machine) and,
 * inside a repository, `workload.sourceRepoPath` (from the repository root, `/`-separated), which
 * stays valid on another checkout of the same repository (a CI artifact checked locally).
 */
export function recordSourceLocation(report: Report, cwd: string): Report {
  const source = report.workload.source;
  if (source === undefined) return report;
  const absolute = resolve(cwd, source);
  const root = findRepositoryRoot(dirname(absolute));
  return {
    ...report,
    workload: {
      ...report.workload,
      sourcePath: absolute,
      ...(root !== undefined ? { sourceRepoPath: posix(relative(root, absolute)) } : {}),
    },
  };
}

/**
 * The report with `workload.source` relative to `cwd` (where `check` runs): from the repository path
 * when `cwd` is in a checkout that has the file, else from the absolute path when the file is there,
 * else from the repository path anyway. A report without a recorded location is returned unchanged.
 */
export function relocateSource(report: Report, cwd: string): Report {
  const { source, sourcePath, sourceRepoPath } = report.workload;
  if (source === undefined || (sourcePath === undefined && sourceRepoPath === undefined)) return report;
  const root = sourceRepoPath !== undefined ? findRepositoryRoot(cwd) : undefined;
  const inRepo = root !== undefined && sourceRepoPath !== undefined ? join(root, sourceRepoPath) : undefined;
  const file =
    inRepo !== undefined && existsSync(inRepo)
      ? inRepo
      : sourcePath !== undefined && isAbsolute(sourcePath) && existsSync(sourcePath)
        ? sourcePath
        : inRepo;
  if (file === undefined) return report;
  const shown = relative(resolve(cwd), file) || basename(file);
  return shown === source ? report : { ...report, workload: { ...report.workload, source: shown } };
}
