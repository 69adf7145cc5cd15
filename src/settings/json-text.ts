/**
 * The JSON editor's text, read with positions: a syntax error gets its line and column, and a
 * schema issue's path (`providers.openai.baseurl`, as validateGatewayConfig names it) gets the
 * line of that key in the text the person typed. Messages never quote the text: it may hold a
 * provider key.
 */

export interface Position {
  line: number;
  column: number;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly at: Position,
  ) {
    super(message);
  }
}

export interface ParsedJson {
  value: unknown;
  /** Joined path (`a.b.0`; the root is `(root)`) -> where its key (or, for array items and the root, its value) starts. */
  positions: Map<string, Position>;
}

/** Parses JSON text, throwing JsonSyntaxError with a position; the value is JSON.parse's. */
export function parseJsonText(text: string): ParsedJson {
  const positions = new Map<string, Position>();
  const s = new Scanner(text);
  s.ws();
  if (s.eof()) throw new JsonSyntaxError('the document is empty', s.pos());
  s.value([], positions, s.pos());
  s.ws();
  if (!s.eof()) throw new JsonSyntaxError('unexpected text after the end of the document', s.pos());
  return { value: JSON.parse(text), positions };
}

/**
 * Where an issue's path is in the text: the path itself, else its nearest ancestor that is there
 * (a missing key is reported on the object that lacks it).
 */
export function locate(positions: Map<string, Position>, path: string): Position | null {
  let p = path;
  for (;;) {
    const hit = positions.get(p);
    if (hit) return hit;
    const cut = p.lastIndexOf('.');
    if (cut < 0) return positions.get('(root)') ?? null;
    p = p.slice(0, cut);
  }
}

const join = (path: (string | number)[]) => (path.length ? path.map(String).join('.') : '(root)');

class Scanner {
  private i = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly t: string) {}

  eof() {
    return this.i >= this.t.length;
  }

  pos(): Position {
    return { line: this.line, column: this.i - this.lineStart + 1 };
  }

  ws() {
    while (this.i < this.t.length) {
      const c = this.t[this.i];
      if (c === '\n') {
        this.i++;
        this.line++;
        this.lineStart = this.i;
      } else if (c === ' ' || c === '\t' || c === '\r') this.i++;
      else break;
    }
  }

  private fail(what: string): never {
    if (this.eof()) throw new JsonSyntaxError(`the document ends too early: ${what}`, this.pos());
    const c = this.t[this.i];
    const shown = /[{}[\]:,"]/.test(c) ? `"${c}"` : 'a character';
    throw new JsonSyntaxError(`unexpected ${shown}: ${what}`, this.pos());
  }

  value(path: (string | number)[], out: Map<string, Position>, keyPos: Position) {
    out.set(join(path), keyPos);
    const c = this.t[this.i];
    if (c === '{') return this.object(path, out);
    if (c === '[') return this.array(path, out);
    if (c === '"') return void this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const lit of ['true', 'false', 'null']) {
      if (this.t.startsWith(lit, this.i)) {
        this.i += lit.length;
        return;
      }
    }
    this.fail('expected a value (object, array, string, number, true, false or null)');
  }

  private object(path: (string | number)[], out: Map<string, Position>) {
    this.i++;
    this.ws();
    if (this.t[this.i] === '}') {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.t[this.i] !== '"') this.fail(this.t[this.i] === '}' ? 'a comma before "}" (trailing commas are not allowed in JSON)' : 'expected a property name in double quotes');
      const at = this.pos();
      const name = this.string();
      this.ws();
      if (this.t[this.i] !== ':') this.fail('expected ":" after the property name');
      this.i++;
      this.ws();
      // Duplicate keys: JSON.parse keeps the last one, so its position wins.
      out.delete(join([...path, name]));
      this.value([...path, name], out, at);
      this.ws();
      if (this.t[this.i] === ',') {
        this.i++;
        continue;
      }
      if (this.t[this.i] === '}') {
        this.i++;
        return;
      }
      this.fail('expected "," or "}" after a property');
    }
  }

  private array(path: (string | number)[], out: Map<string, Position>) {
    this.i++;
    this.ws();
    if (this.t[this.i] === ']') {
      this.i++;
      return;
    }
    for (let n = 0; ; n++) {
      this.ws();
      if (this.t[this.i] === ']') this.fail('a comma before "]" (trailing commas are not allowed in JSON)');
      this.value([...path, n], out, this.pos());
      this.ws();
      if (this.t[this.i] === ',') {
        this.i++;
        continue;
      }
      if (this.t[this.i] === ']') {
        this.i++;
        return;
      }
      this.fail('expected "," or "]" after an item');
    }
  }

  private string(): string {
    const start = this.i;
    this.i++;
    while (this.i < this.t.length) {
      const c = this.t[this.i];
      if (c === '"') {
        this.i++;
        return JSON.parse(this.t.slice(start, this.i)) as string;
      }
      if (c === '\\') {
        const e = this.t[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.t.slice(this.i + 2, this.i + 6))) {
            this.i++;
            this.fail('a \\u escape needs four hex digits');
          }
          this.i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) this.i += 2;
        else {
          this.i++;
          this.fail('unknown escape in a string');
        }
      } else if (c === '\n' || c.charCodeAt(0) < 0x20) {
        this.fail('strings cannot span lines or hold control characters (end the string with ")');
      } else this.i++;
    }
    this.fail('a string is not closed');
  }

  private number() {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.t.slice(this.i, this.i + 400));
    if (!m) this.fail('not a valid number');
    this.i += m[0].length;
  }
}
