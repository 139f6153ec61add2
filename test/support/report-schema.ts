import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';

/** Validates a report against the committed JSON Schema (errors in `validateReport.errors`). */
export const validateReport = new Ajv({ allErrors: true, strict: false }).compile(
  JSON.parse(readFileSync(new URL('../../schemas/report.schema.json', import.meta.url), 'utf8')) as object,
);
