/** Helpers shared by the HTTP replay tests. */
import { isQuerygateError, type QuerygateError } from '../../src/errors.js';

/** The querygate error a run fails with; any other outcome fails the test. */
export async function failure(promise: Promise<unknown>): Promise<QuerygateError> {
  try {
    await promise;
  } catch (error) {
    if (isQuerygateError(error)) return error;
    throw error;
  }
  throw new Error('expected the run to fail');
}

/**
 * An HTTP scenario with a mistake of each kind the loader checks (a placeholder whose generator has
 * another name, a method, a path, a duplicate route name, a header placeholder, an int range, a
 * missing HAR file, a load field and a phase length), for the loader and the CLI alike.
 */
export const BAD_HTTP_SCENARIO = [
  'http:',
  '  app:',
  '    command: [node, app.js]',
  '  routes:',
  '    - name: profile',
  '      path: /users/{uid}',
  '      params:',
  '        id: { int: { min: 1, max: 10 } }',
  '    - name: search',
  '      method: GETT',
  '      path: search?q={q}',
  '      params:',
  '        q: { pick: [ali] }',
  '    - name: profile',
  '      path: /users/{n}/posts',
  '      headers: { x-tenant: "{tenant}" }',
  '      params:',
  '        n: { int: { min: 10, max: 1 } }',
  '  import:',
  '    - har: nowhere.har',
  '  load:',
  '    conections: 4',
  '    duration: 0s',
  '',
].join('\n');

/**
 * The problems of BAD_HTTP_SCENARIO, in file order: `file` as the messages name the scenario, `har`
 * the absolute path of the HAR file it misses.
 */
export function badHttpScenarioProblems(file: string, har: string): string[] {
  return [
    // The generator that no placeholder uses is named as the likely one, with its line.
    `${file}:6:13: http.routes[0].path: placeholder {uid} has no generator, and http.routes[0].params.id (line 8) ` +
      'is used by no placeholder: if it is meant for {uid}, rename it uid; else add uid under http.routes[0].params',
    `${file}:10:15: http.routes[1].method: must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"`,
    `${file}:11:13: http.routes[1].path: must be a path starting with / (e.g. /orders/{id})`,
    `${file}:14:13: http.routes[2].name: route "profile" is also http.routes[0]'s name: route names must be unique`,
    `${file}:16:28: http.routes[2].headers.x-tenant: placeholder {tenant} has no generator: add it under http.routes[2].params`,
    `${file}:18:12: http.routes[2].params.n: int.min (10) is greater than int.max (1)`,
    `${file}:20:12: http.import[0].har: HAR file not found: ${har}`,
    `${file}:22:5: http.load.conections: unknown field: did you mean connections? (known: connections, duration, requests, rate, warmup, mixed, timeout)`,
    `${file}:23:15: http.load.duration: must be at least 1s`,
  ];
}
