/** One reason a comparison counts as a regression (or an improvement), with its evidence. */
import type { ComparisonReason } from '../model/comparison.js';

export function reason(
  kind: ComparisonReason['kind'],
  messageId: string,
  message: string,
  evidence: ComparisonReason['evidence'],
): ComparisonReason {
  return { kind, messageId, message, evidence };
}
