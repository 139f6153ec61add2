/**
 * The command-line program: parses arguments, calls the library, writes output, sets the exit code.
 * Nothing outside src/cli/ prints or exits.
 */
import { Command, CommanderError } from 'commander';
import { isQuerygateError } from '../errors.js';
import { redactSecrets } from '../redact.js';
import { asServerError } from '../target/pg.js';
import { TOOL_VERSION } from '../version.js';
import { registerRun } from './commands/run.js';
import { registerDemo } from './commands/demo.js';
import { captureUsageHint, registerCapture } from './commands/capture.js';
import { registerCompare } from './commands/compare.js';
import { registerRules } from './commands/rules.js';
import { registerCheck } from './commands/check.js';
import { registerBudget } from './commands/budget.js';
import { EXIT, processIO, type CliIO } from './io.js';

/** Hints added to a command's usage errors, by command name. */
const USAGE_HINTS: Readonly<Record<string, (command: Command, message: string) => string | undefined>> = {
  capture: captureUsageHint,
};

/**
 * Usage errors from the option parser (`error: unknown option '-c'`) get the prefix of querygate's
 * own errors (`querygate: error: ...`), and the command's hint when it has one.
 */
function usageErrorOutput(command: Command) {
  return (message: string, write: (text: string) => void) => {
    write(explainExcessArguments(command, message).replace(/^error: /, 'querygate: error: '));
    const hint = USAGE_HINTS[command.name()]?.(command, message);
    if (hint) write(`querygate: hint: ${hint}\n`);
  };
}

/**
 * commander's `too many arguments` names neither the extra argument nor why there is one. The
 * usual cause is an option whose value is missing (an unset `$DATABASE_URL` in
 * `--database-url $DATABASE_URL --statement-timeout 8s`): the option takes the next flag as its
 * value, and that flag's own value is left over as an argument. Both are said.
 */
function explainExcessArguments(command: Command, message: string): string {
  if (!/^error: too many arguments/.test(message)) return message;
  const extra = command.args.slice(command.registeredArguments.length);
  if (extra.length === 0) return message;
  const lines = [
    `${message.trimEnd()} The extra argument${extra.length === 1 ? ' is' : 's are'} ${extra.map((a) => `'${a}'`).join(', ')}.`,
  ];
  for (const option of command.options) {
    if (!option.required && !option.optional) continue;
    const value: unknown = command.getOptionValue(option.attributeName());
    for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) {
      if (typeof v === 'string' && /^--?[a-zA-Z]/.test(v)) {
        lines.push(
          `querygate: hint: ${option.long ?? option.short ?? option.flags} took '${v}' as its value: is its value missing (an unset environment variable)?`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Builds the program; `setExit` receives each command's exit code. */
export function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('querygate')
    .description('Catch expensive PostgreSQL queries before they are deployed.')
    .version(TOOL_VERSION)
    .showHelpAfterError('(run querygate --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  program.configureOutput({ outputError: usageErrorOutput(program) });
  registerRun(program, io, setExit);
  registerDemo(program, io, setExit);
  registerCapture(program, io, setExit);
  registerCompare(program, io, setExit);
  registerRules(program, io, setExit);
  registerCheck(program, io, setExit);
  registerBudget(program, io, setExit);
  for (const command of program.commands)
    command.exitOverride().configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      outputError: usageErrorOutput(command),
    });
  return program;
}

/** Maps an error to one clear message and an exit code. Unexpected errors keep their stack. */
export function reportError(error: unknown, io: CliIO): number {
  if (error instanceof CommanderError) {
    // Help and version are not errors; everything else commander rejects is a usage error.
    return error.exitCode === 0 ? EXIT.ok : EXIT.input;
  }
  if (isQuerygateError(error)) {
    // Messages may quote a command line or a setting: never a password (details quote SQL, kept as is).
    io.err(`querygate: error: ${redactSecrets(error.message)}`);
    for (const line of error.details) io.err(line);
    return error.kind === 'input' ? EXIT.input : EXIT.environment;
  }
  const server = asServerError(error);
  if (server) {
    // A database error no step anticipated: almost always privileges or server state.
    io.err(
      `querygate: error: PostgreSQL refused a statement querygate needs: ${server.message} (SQLSTATE ${server.code})`,
    );
    return EXIT.environment;
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.err(`querygate: unexpected error (a bug: please report it with the lines below)\n${stack}`);
  return 70;
}

/**
 * The arguments to parse: those given, less `--help` when they name an unknown command. Commander
 * answers `querygate init --help` with the top-level help and exit 0, as if `init` were a command;
 * without the flag it reports the unknown command (exit 2), as `querygate init` does.
 */
export function withoutHelpOfUnknownCommand(program: Command, argv: readonly string[]): string[] {
  const args = argv.slice(2);
  const help = (a: string) => a === '--help' || a === '-h';
  const first = args.find((a) => !a.startsWith('-'));
  const known =
    first === undefined ||
    first === 'help' ||
    program.commands.some((c) => c.name() === first || c.aliases().includes(first));
  return known ? [...argv] : [...argv.slice(0, 2), ...args.filter((a) => !help(a))];
}

/** Entry point of the binary. Sets process.exitCode instead of exiting. */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(withoutHelpOfUnknownCommand(program, argv));
  } catch (error) {
    code = reportError(error, io);
  }
  process.exitCode = code;
  return code;
}
