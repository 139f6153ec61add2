import { describe, expect, it } from 'vitest';
import { redactSecrets, urlSecrets } from '../../src/redact.js';

describe('redactSecrets', () => {
  it.each([
    ['psql postgres://app:s3cret@db:5432/app -c "select 1"', 'psql postgres://app:*****@db:5432/app -c "select 1"'],
    ['postgresql://app:p@ss:w@rd@db/app', 'postgresql://app:*****@db/app'],
    ['postgres://:s3cret@db/app', 'postgres://:*****@db/app'],
    ['postgres://app@db/app?password=s3cret', 'postgres://app@db/app?password=*****'],
    [
      'postgres://app@db/app?sslmode=require&PASSWORD=s3cret&x=1',
      'postgres://app@db/app?sslmode=require&PASSWORD=*****&x=1',
    ],
    ['host=db user=app password=s3cret dbname=app', 'host=db user=app password=***** dbname=app'],
    ["host=db password = 'se cr\\'et' dbname=app", 'host=db password = ***** dbname=app'],
    ['env PGPASSWORD=s3cret psql -h db', 'env PGPASSWORD=***** psql -h db'],
    ['k6 run --password=s3cret load.js', 'k6 run --password=***** load.js'],
    // Nothing to mask
    ['postgres://app@db:5432/app', 'postgres://app@db:5432/app'],
    ['postgres://db:5432/app', 'postgres://db:5432/app'],
    ['SELECT count(*) FROM users', 'SELECT count(*) FROM users'],
  ])('%s', (text, expected) => {
    expect(redactSecrets(text)).toBe(expected);
  });

  it('masks known passwords wherever they appear, as written and decoded', () => {
    const secrets = urlSecrets('postgres://app:p%40ss-word@db/app');
    expect(secrets).toEqual(['p%40ss-word', 'p@ss-word']);
    expect(redactSecrets('pgbench -W p@ss-word; echo p%40ss-word', secrets)).toBe('pgbench -W *****; echo *****');
    expect(urlSecrets('postgres://app@db/app?password=s3cret')).toEqual(['s3cret']);
    expect(urlSecrets(undefined)).toEqual([]);
  });
});
