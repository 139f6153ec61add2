import { readFileSync } from 'node:fs';

/** querygate's version, from package.json (one place to bump). */
export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
