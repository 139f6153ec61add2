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
