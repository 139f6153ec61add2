import { describe, expect, it } from 'vitest';
import { openTarget } from '../src/target/target.js';
import { createTestDatabase, withSession } from './support/db.js';

describe('target checks', () => {
  it('describes a usable external database', async () => {
    const url = await createTestDatabase('target');
    const target = await openTarget({ databaseUrl: url });
    expect(target.kind).toBe('external');
    expect(target.info.serverVersionNum).toBeGreaterThanOrEqual(130000);
    expect(target.info.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(JSON.stringify(target.info)).not.toContain(new URL(url).password);
    await target.close();
  });

  it('refuses a database where pg_stat_statements would record nothing', async () => {
    const off = await createTestDatabase('track_none');
    const name = new URL(off).pathname.slice(1);
    await withSession(off, (s) => s.query(`ALTER DATABASE ${name} SET pg_stat_statements.track = 'none'`));
    await expect(openTarget({ databaseUrl: off })).rejects.toThrow(
      /pg_stat_statements\.track is 'none'.*set it to 'top'/,
    );

    const noIds = await createTestDatabase('no_query_id');
    const other = new URL(noIds).pathname.slice(1);
    await withSession(noIds, (s) => s.query(`ALTER DATABASE ${other} SET compute_query_id = off`));
    await expect(openTarget({ databaseUrl: noIds })).rejects.toThrow(
      /compute_query_id is off.*set compute_query_id = auto/,
    );
  });
});
