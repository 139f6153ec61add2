/**
 * Starts one embedded PostgreSQL for the whole test run (tests never mock the database).
 * Each test file creates its own database in it with `createTestDatabase`.
 */
import type { TestProject } from 'vitest/node';
import { startEmbedded, type EmbeddedServer } from '../../src/target/embedded.js';

let server: EmbeddedServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await startEmbedded();
  project.provide('adminUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}
