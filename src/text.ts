/** Plain-text helpers shared by the layers that build messages. */

/**
 * `text` cut to at most `max` characters, with `…` at the end when it was cut. The cut goes back to
 * the last space when that keeps most of the text, so that a cut word cannot read as another
 * (`ORDER BY` cut to `OR…`).
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = text.slice(0, max - 1);
  const space = head.lastIndexOf(' ');
  const atWordEnd = /\s/.test(text[max - 1]!);
  return `${(atWordEnd || space < max * 0.6 ? head : head.slice(0, space)).trimEnd()}…`;
}
