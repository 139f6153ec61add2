/**
 * Annotation paths: a report records where its workload file is, and `check` shows that path
 * relative to its own working directory, whatever directory the run was started from.
 */
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/model/report.js';
import { renderGithub } from '../../src/report/github.js';
import { renderSarif } from '../../src/report/sarif.js';
import { findRepositoryRoot, recordSourceLocation, relocateSource } from '../../src/report/source-paths.js';
import { fixtureReport } from '../budget/support.js';

/** A checkout: `<root>/.git`, `<root>/lib/scenario.yaml`, `<root>/ci/`. */
function checkout(): string {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'qg-paths-')));
  mkdirSync(join(root, '.git'));
  mkdirSync(join(root, 'lib'));
  mkdirSync(join(root, 'ci'));
  writeFileSync(join(root, 'lib', 'scenario.yaml'), 'name: x\n');
  return root;
}

/** The fixture report as if `run lib/scenario.yaml`-like had been given `source` in `cwd`. */
const ranWith = (source: string): Report => {
  const report = fixtureReport();
  return { ...report, workload: { ...report.workload, source } };
};

describe('recordSourceLocation', () => {
  it('keeps the path as given and adds the absolute path and the path in the repository', () => {
    const root = checkout();
    const recorded = recordSourceLocation(ranWith('../lib/scenario.yaml'), join(root, 'ci'));
    expect(recorded.workload).toMatchObject({
      source: '../lib/scenario.yaml',
      sourcePath: join(root, 'lib', 'scenario.yaml'),
      sourceRepoPath: 'lib/scenario.yaml',
    });
    expect(findRepositoryRoot(join(root, 'lib'))).toBe(root);
  });

  it('outside a repository records the absolute path only', () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'qg-norepo-')));
    const recorded = recordSourceLocation(ranWith('w.sql'), dir);
    expect(recorded.workload.sourcePath).toBe(join(dir, 'w.sql'));
    expect(recorded.workload.sourceRepoPath).toBeUndefined();
  });
});

describe('relocateSource', () => {
  it('shows the file relative to where check runs, not where the run ran', () => {
    const root = checkout();
    // Run from lib/ (source "scenario.yaml"), checked from the root and from ci/.
    const recorded = recordSourceLocation(ranWith('scenario.yaml'), join(root, 'lib'));
    expect(relocateSource(recorded, root).workload.source).toBe('lib/scenario.yaml');
    expect(relocateSource(recorded, join(root, 'ci')).workload.source).toBe(join('..', 'lib', 'scenario.yaml'));
    expect(relocateSource(recorded, join(root, 'lib')).workload.source).toBe('scenario.yaml');
  });

  it('uses the repository path on another checkout of the same repository (a CI artifact checked locally)', () => {
    const ci = checkout();
    const recorded = recordSourceLocation(ranWith('lib/scenario.yaml'), ci);
    const local = checkout();
    const moved = relocateSource(
      { ...recorded, workload: { ...recorded.workload, sourcePath: '/gone/lib/scenario.yaml' } },
      join(local, 'ci'),
    );
    expect(moved.workload.source).toBe(join('..', 'lib', 'scenario.yaml'));
  });

  it('outside a repository, uses the absolute path', () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'qg-norepo-')));
    mkdirSync(join(dir, 'lib'));
    mkdirSync(join(dir, 'bud'));
    writeFileSync(join(dir, 'lib', 'w.sql'), 'SELECT 1;\n');
    const recorded = recordSourceLocation(ranWith('w.sql'), join(dir, 'lib'));
    expect(relocateSource(recorded, join(dir, 'bud')).workload.source).toBe(join('..', 'lib', 'w.sql'));
  });

  it('leaves a report without a recorded location (an older report) as it is', () => {
    const old = ranWith('../lib/scenario.yaml');
    expect(relocateSource(old, checkout())).toBe(old);
  });

  it('GitHub annotations and SARIF locations follow', () => {
    const root = checkout();
    const recorded = recordSourceLocation(ranWith('scenario.yaml'), join(root, 'lib'));
    const here = relocateSource(recorded, root);
    expect(renderGithub(here)).toMatch(/^::\w+ file=lib\/scenario\.yaml/m);
    expect(renderGithub(here)).not.toMatch(/file=scenario\.yaml/);
    const sarif = JSON.parse(renderSarif(here)) as {
      runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[];
    };
    const uris = sarif.runs[0]!.results.flatMap((r) => r.locations.map((l) => l.physicalLocation.artifactLocation.uri));
    expect(uris).toContain('lib/scenario.yaml');
    expect(uris).not.toContain('scenario.yaml');
  });
});
