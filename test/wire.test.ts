import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { asServerError, openSession, openWireSession } from '../src/target/pg.js';
import { createTestDatabase, withSession } from './support/db.js';

// Both ways the replay's wire client talks to its socket: directly through the handle (where Node
// offers it) and through the public stream API (every runtime, TLS).
describe.each([
  ['the socket handle', true],
  ['the stream API', false],
])('the wire client over %s', (_, direct) => {
  let url: string;
  beforeAll(async () => {
    url = await createTestDatabase('wire');
    await withSession(url, (s) =>
      s.query(
        'CREATE TABLE w (id int PRIMARY KEY, v text); INSERT INTO w SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 20000) g',
      ),
    );
  });

  it('executes prepared statements with text parameters, nulls and large results', async () => {
    const wire = await openWireSession(url, 'test', { direct });
    await wire.prepare('one', 'SELECT v FROM w WHERE id = $1');
    await wire.prepare('all', 'SELECT v FROM w WHERE $1::text IS NULL OR id > $2::int');
    for (let i = 1; i <= 200; i++) await wire.execute('one', [String(i)]);
    // About 13 MB of rows, read across many socket reads and skipped without buffering.
    await wire.execute('all', [null, '0']);
    const encoded = wire.encodeExecute('one', ['7']);
    await new Promise<void>((resolve, reject) => wire.sendThen(encoded, (e) => (e ? reject(e) : resolve())));
    await wire.simple('BEGIN');
    await wire.simple('ROLLBACK');
    wire.close();
    await expect(wire.execute('one', ['1'])).rejects.toThrow('connection closed');
  });

  it('sends parameter text byte for byte: short and long, ASCII and not', async () => {
    const wire = await openWireSession(url, 'test', { direct });
    // Divides by zero unless the server received exactly the UTF-8 bytes whose md5 is $2.
    await wire.prepare('same', 'SELECT 1 / (md5($1::text) = $2::text)::int');
    const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');
    for (const text of ['42', '', 'é', 'snow ☃ man', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(40), '𝄞'.repeat(20)]) {
      await wire.execute('same', [text, md5(text)]);
      const encoded = wire.encodeExecute('same', [text, md5(text)]);
      await new Promise<void>((resolve, reject) => wire.sendThen(encoded, (e) => (e ? reject(e) : resolve())));
    }
    await expect(wire.execute('same', ['é', md5('e')])).rejects.toSatisfy(
      (e: unknown) => asServerError(e)?.code === '22012',
    );
    wire.close();
  });

  it('reports server errors with SQLSTATE, message and position, and stays usable', async () => {
    const wire = await openWireSession(url, 'test', { direct });
    await expect(wire.prepare('bad', 'SELECT nope FROM w')).rejects.toSatisfy((e: unknown) => {
      const server = asServerError(e);
      return server?.code === '42703' && server.message.includes('nope') && server.position === 8;
    });
    await wire.prepare('div', 'SELECT 1 / $1::int');
    await expect(wire.execute('div', ['0'])).rejects.toSatisfy((e: unknown) => asServerError(e)?.code === '22012');
    await wire.execute('div', ['1']);
    wire.close();
  });

  it('rolls back a rolled-back call, whether its statement succeeds or fails, and leaves the session idle', async () => {
    await withSession(url, (s) =>
      s.query(
        `DROP TABLE IF EXISTS jobs; CREATE TABLE jobs (id serial PRIMARY KEY, state text);
         INSERT INTO jobs (state) SELECT 'queued' FROM generate_series(1, 10);
         CREATE OR REPLACE FUNCTION take_job() RETURNS int LANGUAGE sql AS
           $$ UPDATE jobs SET state = 'running' WHERE id = (SELECT min(id) FROM jobs WHERE state = 'queued') RETURNING id $$;`,
      ),
    );
    const running = () =>
      withSession(
        url,
        async (s) =>
          (await s.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE state = 'running'`)).rows[0]!.n,
      );
    const wire = await openWireSession(url, 'test', { direct });
    await wire.prepareRollback();
    await wire.prepareRollback(); // once per session: a second call prepares nothing again
    await wire.prepare('take', 'SELECT take_job()');
    await wire.prepare('div', 'SELECT 1 / $1::int FROM jobs LIMIT 1');
    for (let i = 0; i < 3; i++) await wire.execute('take', undefined, true);
    const encoded = wire.encodeExecute('take', undefined, true);
    await new Promise<void>((resolve, reject) => wire.sendThen(encoded, (e) => (e ? reject(e) : resolve())));
    expect(await running()).toBe(0);
    // The statement fails: the server skips the rest of the call, ROLLBACK included.
    await expect(wire.execute('div', ['0'], true)).rejects.toSatisfy(
      (e: unknown) => asServerError(e)?.code === '22012',
    );
    const failing = wire.encodeExecute('div', ['0'], true);
    const error = await new Promise<Error | undefined>((resolve) => wire.sendThen(failing, resolve));
    expect(asServerError(error)?.code).toBe('22012');
    // ...and the session is not left in the failed transaction: later calls, plain or rolled back, run.
    await wire.execute('div', ['1'], true);
    await wire.execute('take', undefined);
    expect(await running()).toBe(1);
    wire.close();
  });

  it('fails pending and later calls when the server ends the connection', async () => {
    const wire = await openWireSession(url, 'victim', { direct });
    await wire.prepare('sleep', 'SELECT pg_sleep($1::float8)');
    const pending = wire.execute('sleep', ['5']).catch((e: unknown) => e);
    const admin = await openSession(url);
    await new Promise((r) => setTimeout(r, 200));
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'");
    await admin.close();
    const error = await pending;
    expect(error).toBeInstanceOf(Error);
    await expect(wire.execute('sleep', ['0'])).rejects.toThrow();
  });
});
