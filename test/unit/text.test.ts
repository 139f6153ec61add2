import { describe, expect, it } from 'vitest';
import { clip } from '../../src/text.js';

describe('clip', () => {
  it('keeps text that fits', () => {
    expect(clip('SELECT 1', 8)).toBe('SELECT 1');
  });

  it('cuts at the last space, so that a cut keyword cannot read as another', () => {
    const sql = 'SELECT id FROM invoices WHERE customer_name ILIKE $1 ORDER BY issued_at';
    const cut = clip(sql, 56);
    expect(cut).toBe('SELECT id FROM invoices WHERE customer_name ILIKE $1…');
    expect(cut.length).toBeLessThanOrEqual(56);
  });

  it('keeps a whole word that ends at the cut, and cuts a long word without spaces anywhere', () => {
    expect(clip('SELECT abc FROM t', 11)).toBe('SELECT abc…');
    expect(clip('a_very_long_identifier_without_spaces', 10)).toBe('a_very_lo…');
  });
});
