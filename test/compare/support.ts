import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../src/model/report.js';

const load = (name: string) =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`./fixtures/reports/${name}.json`, import.meta.url)), 'utf8'),
  ) as Report;

// Real reports of one workload against the schema with and without orders_customer_idx
// (fixtures/capture-reports.ts). Each test file gets its own copy (vitest isolates files).
export const withIndex = load('with-index');
export const withoutIndex = load('without-index');

// Real HTTP reports of the sample application's routes, with and without the index behind
// "orders of a customer" (fixtures/capture-http-reports.ts).
export const httpBase = load('http-base');
export const httpHead = load('http-head');

// Real reports of one workload without and with indexes on the columns its predicates wrap in a
// function (fixtures/capture-relabel-reports.ts): head's findings are base's, named by
// non-sargable-predicate instead of seq-scan-large-table (`evidence.sameFixAs`).
export const relabelBase = load('relabel-base');
export const relabelHead = load('relabel-head');
