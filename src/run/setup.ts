/** Applies schema and seed files, and checks workload statements against the target before the run. */
import { caretLines, lineAndColumn } from '../analyze/parser.js';
import { InputError } from '../errors.js';
import type { SetupFile, WorkloadStatement } from '../model/workload.js';
import { asServerError, type Session } from '../target/pg.js';

/**
 * Applies a workload's schema and seed files, then ANALYZE: always on the embedded database, on an
 * external one only when the user asked (`--setup`); otherwise returns a warning for the report.
 */
export async function prepareDatabase(
  control: Session,
  kind: 'embedded' | 'external',
  files: readonly SetupFile[],
  allowed: boolean,
  step: (message: string) => void,
): Promise<string | undefined> {
  if (files.length === 0) return undefined;
  if (kind === 'external' && !allowed) {
    return `setup files not applied to the external database (${files.map((f) => f.path).join(', ')}): pass --setup to apply them`;
  }
  for (const file of files) step(`applying ${file.path}`);
  await applySetupFiles(control, files);
  step('analyzing tables');
  await control.query('ANALYZE');
  return undefined;
}

/** Runs each file as one script (simple protocol); a failure names file:line:column. */
export async function applySetupFiles(session: Session, files: readonly SetupFile[]): Promise<void> {
  for (const file of files) {
    try {
      await session.query(file.sql);
    } catch (error) {
      const server = asServerError(error);
      if (!server) throw error;
      const offset = (server.position ?? 1) - 1;
      const { line, column } = lineAndColumn(file.sql, offset);
      throw new InputError(
        'SQL_FAILED',
        `${file.path}:${server.position ? `${line}:${column}:` : ''} setup failed: ${server.message}`,
        server.position ? caretLines(file.sql, offset) : [],
      );
    }
  }
}

/**
 * Prepares every statement once (parse analysis, no execution), so that a missing table or column
 * is reported before the run, with the statement's name and position.
 */
export async function checkStatements(session: Session, statements: readonly WorkloadStatement[]): Promise<void> {
  for (const statement of statements) {
    try {
      await session.query(`PREPARE querygate_check AS ${statement.sql}`);
      await session.query('DEALLOCATE querygate_check');
    } catch (error) {
      const server = asServerError(error);
      if (!server) throw error;
      const prefix = `PREPARE querygate_check AS `.length;
      const offset = server.position ? server.position - 1 - prefix : -1;
      throw new InputError(
        'SQL_FAILED',
        `${statement.name}: ${server.message}`,
        offset >= 0 ? caretLines(statement.sql, offset) : [`  ${statement.sql.split('\n')[0] ?? ''}`],
      );
    }
  }
}
