import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

describe('an unknown command', () => {
  it.each([[['init']], [['init', '--help']], [['init', '-h']], [['--help', 'init']]])(
    'is a usage error, with or without --help: querygate %j',
    async (args) => {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^querygate: error: unknown command 'init'\n\(run querygate --help for usage\)/);
    },
  );

  it('leaves the help of a known command alone', async () => {
    const result = await runCli(['budget', 'init', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: querygate budget init/);
  });
});
