/**
 * A small, strict XML parser for tests: elements, attributes, text, CDATA, comments, the five
 * predefined entities and character references. It throws on anything malformed (unclosed or
 * mismatched tags, unescaped `<` or `&`, duplicate attributes), which is what the tests rely on.
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  readonly text: string;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, at: number): string {
  if (/<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(raw))
    throw new Error(`unescaped < or & near offset ${at}: ${raw.slice(0, 60)}`);
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (_, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number(ref.slice(1)));
    return ENTITIES[ref]!;
  });
}

export function parseXml(xml: string): XmlElement {
  let pos = 0;
  const skipMisc = () => {
    for (;;) {
      const rest = xml.slice(pos);
      const ws = /^\s+/.exec(rest);
      if (ws) {
        pos += ws[0].length;
        continue;
      }
      if (rest.startsWith('<?')) {
        const end = xml.indexOf('?>', pos);
        if (end < 0) throw new Error('unterminated processing instruction');
        pos = end + 2;
        continue;
      }
      if (rest.startsWith('<!--')) {
        const end = xml.indexOf('-->', pos);
        if (end < 0) throw new Error('unterminated comment');
        pos = end + 3;
        continue;
      }
      return;
    }
  };
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w.-]*)/.exec(xml.slice(pos));
    if (!open) throw new Error(`expected an element at offset ${pos}: ${xml.slice(pos, pos + 40)}`);
    const name = open[1]!;
    pos += open[0].length;
    const attributes: Record<string, string> = {};
    for (;;) {
      const attr = /^\s+([A-Za-z_][\w.:-]*)\s*=\s*"([^"]*)"/.exec(xml.slice(pos));
      if (!attr) break;
      if (attr[1]! in attributes) throw new Error(`duplicate attribute ${attr[1]} on <${name}>`);
      attributes[attr[1]!] = decode(attr[2]!, pos);
      pos += attr[0].length;
    }
    const close = /^\s*(\/?)>/.exec(xml.slice(pos));
    if (!close) throw new Error(`malformed start tag <${name}> at offset ${pos}: ${xml.slice(pos, pos + 40)}`);
    pos += close[0].length;
    if (close[1]) return { name, attributes, children: [], text: '' };
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      const lt = xml.indexOf('<', pos);
      if (lt < 0) throw new Error(`unclosed <${name}>`);
      text += decode(xml.slice(pos, lt), pos);
      pos = lt;
      if (xml.startsWith('</', pos)) {
        const end = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(xml.slice(pos));
        if (!end || end[1] !== name) throw new Error(`mismatched end tag for <${name}> at offset ${pos}`);
        pos += end[0].length;
        return { name, attributes, children, text };
      }
      if (xml.startsWith('<![CDATA[', pos)) {
        const end = xml.indexOf(']]>', pos);
        if (end < 0) throw new Error('unterminated CDATA');
        text += xml.slice(pos + 9, end);
        pos = end + 3;
        continue;
      }
      if (xml.startsWith('<!--', pos)) {
        const end = xml.indexOf('-->', pos);
        if (end < 0) throw new Error('unterminated comment');
        pos = end + 3;
        continue;
      }
      children.push(element());
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (pos !== xml.length) throw new Error(`content after the root element at offset ${pos}`);
  return root;
}
