// A small JSON reader and writer over UTF-8 bytes, and base64: just what the
// plugin documents of wit/ABI.md need (objects of strings, integers,
// booleans, base64 byte fields, and skipping anything else).
//
// The reader never reads outside its input and never aborts: on malformed
// input it records the first problem in `error` and returns empty values,
// so the caller checks `error` once at the end.

// MAX_DEPTH bounds the nesting the reader skips through, so hostile input
// cannot exhaust the stack.
// @ts-ignore: decorator
@inline const MAX_DEPTH: i32 = 256;

/** ByteWriter is a growable byte buffer. */
export class ByteWriter {
  buf: Uint8Array;
  len: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.buf = new Uint8Array(max(capacity, 16));
  }

  /** reserve makes room for n more bytes. */
  reserve(n: i32): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length << 1;
    while (cap < need) cap <<= 1;
    const grown = new Uint8Array(cap);
    memory.copy(grown.dataStart, this.buf.dataStart, this.len);
    this.buf = grown;
  }

  /** byte appends one byte. */
  byte(b: u8): void {
    this.reserve(1);
    store<u8>(this.buf.dataStart + this.len, b);
    this.len++;
  }

  /** raw appends n bytes at ptr. */
  raw(ptr: usize, n: i32): void {
    this.reserve(n);
    memory.copy(this.buf.dataStart + this.len, ptr, n);
    this.len += n;
  }

  /** bytes appends b. */
  bytes(b: Uint8Array): void {
    this.raw(b.dataStart, b.length);
  }

  /** ascii appends s, which must be ASCII (field names, numbers). */
  ascii(s: string): void {
    const n = s.length;
    this.reserve(n);
    const p = this.buf.dataStart + this.len;
    for (let i = 0; i < n; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
    this.len += n;
  }

  /** toBytes returns what was written (a view, no copy). */
  toBytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

const HEX = "0123456789abcdef";

/** JSONWriter writes one JSON object, field by field. */
export class JSONWriter {
  w: ByteWriter = new ByteWriter();
  fields: i32 = 0;

  constructor() {
    this.w.byte(0x7b); // {
  }

  /** key starts a field. */
  key(name: string): void {
    if (this.fields++ > 0) this.w.byte(0x2c); // ,
    writeString(this.w, name);
    this.w.byte(0x3a); // :
  }

  /** string writes a string field. */
  string(name: string, v: string): void {
    this.key(name);
    writeString(this.w, v);
  }

  /** int writes an integer field. */
  int(name: string, v: i64): void {
    this.key(name);
    this.w.ascii(v.toString());
  }

  /** bool writes a boolean field. */
  bool(name: string, v: bool): void {
    this.key(name);
    this.w.ascii(v ? "true" : "false");
  }

  /** base64 writes a byte field as a base64 string. */
  base64(name: string, v: Uint8Array): void {
    this.key(name);
    this.w.byte(0x22);
    base64Encode(this.w, v);
    this.w.byte(0x22);
  }

  /** map writes an object of strings. */
  map(name: string, m: Map<string, string>): void {
    this.key(name);
    const keys = m.keys();
    this.w.byte(0x7b);
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) this.w.byte(0x2c);
      writeString(this.w, keys[i]);
      this.w.byte(0x3a);
      writeString(this.w, m.get(keys[i]));
    }
    this.w.byte(0x7d);
  }

  /** finish closes the object and returns its bytes. */
  finish(): Uint8Array {
    this.w.byte(0x7d); // }
    return this.w.toBytes();
  }
}

/** writeString writes s as a JSON string: UTF-8, with ", \ and control characters escaped. */
export function writeString(w: ByteWriter, s: string): void {
  const b = String.UTF8.encode(s);
  const p = changetype<usize>(b);
  const n = b.byteLength;
  w.reserve(n + 2);
  w.byte(0x22);
  let run = 0; // start of the bytes not yet copied
  for (let i = 0; i < n; i++) {
    const c = load<u8>(p + i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    w.raw(p + run, i - run);
    run = i + 1;
    w.byte(0x5c);
    if (c == 0x22 || c == 0x5c) w.byte(c);
    else if (c == 0x0a) w.byte(0x6e); // \n
    else if (c == 0x0d) w.byte(0x72); // \r
    else if (c == 0x09) w.byte(0x74); // \t
    else {
      w.ascii("u00");
      w.byte(<u8>HEX.charCodeAt(c >> 4));
      w.byte(<u8>HEX.charCodeAt(c & 15));
    }
  }
  w.raw(p + run, n - run);
  w.byte(0x22);
}

/** JSONReader reads a JSON document from UTF-8 bytes. */
export class JSONReader {
  b: Uint8Array;
  p: usize; // the first byte
  n: i32; // the number of bytes
  i: i32 = 0; // the next byte
  error: string | null = null;

  constructor(b: Uint8Array) {
    this.b = b;
    this.p = b.dataStart;
    this.n = b.length;
  }

  /** fail records the first problem and returns false. */
  fail(what: string): bool {
    if (this.error === null) this.error = what + " at byte " + this.i.toString();
    return false;
  }

  /** peek returns the next byte after white space, or -1 at the end or after an error. */
  peek(): i32 {
    if (this.error !== null) return -1;
    while (this.i < this.n) {
      const c = load<u8>(this.p + this.i);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return c;
      this.i++;
    }
    return -1;
  }

  /** expect consumes byte c (after white space) or fails. */
  expect(c: i32): bool {
    if (this.peek() != c) return this.fail("expected '" + String.fromCharCode(c) + "'");
    this.i++;
    return true;
  }

  /** beginObject consumes the '{' of an object. */
  beginObject(): bool {
    return this.expect(0x7b);
  }

  /**
   * nextKey reads the next field name of the object begun with
   * beginObject, and the ':' after it; it returns null at the closing '}'
   * (which it consumes) or on an error.
   */
  nextKey(): string | null {
    let c = this.peek();
    if (c == 0x7d) {
      this.i++;
      return null;
    }
    if (c == 0x2c) {
      this.i++;
      c = this.peek();
    }
    if (c != 0x22) {
      this.fail(c < 0 ? "unexpected end of object" : "expected a field name");
      return null;
    }
    const k = this.readString();
    if (!this.expect(0x3a)) return null;
    return k;
  }

  /** isNull consumes a null and reports whether there was one. */
  isNull(): bool {
    if (this.peek() != 0x6e) return false;
    return this.literal("null");
  }

  /** literal consumes the ASCII word w or fails. */
  literal(w: string): bool {
    if (this.i + w.length > this.n) return this.fail("unexpected end");
    for (let j = 0; j < w.length; j++) {
      if (<i32>load<u8>(this.p + this.i + j) != w.charCodeAt(j)) return this.fail("expected " + w);
    }
    this.i += w.length;
    return true;
  }

  /** readString reads a string (null reads as ""). */
  readString(): string {
    if (this.isNull()) return "";
    const raw = this.readStringBytes();
    return String.UTF8.decodeUnsafe(raw.dataStart, raw.length);
  }

  /** readStringBytes reads a string and returns its UTF-8 bytes, escapes resolved. */
  readStringBytes(): Uint8Array {
    if (!this.expect(0x22)) return new Uint8Array(0);
    const start = this.i;
    // Fast path: no escapes, the bytes are the string.
    while (this.i < this.n) {
      const c = load<u8>(this.p + this.i);
      if (c == 0x22) {
        this.i++;
        return this.b.subarray(start, this.i - 1);
      }
      if (c == 0x5c) break;
      this.i++;
    }
    const w = new ByteWriter(this.i - start + 16);
    w.raw(this.p + start, this.i - start);
    while (this.i < this.n) {
      const c = load<u8>(this.p + this.i++);
      if (c == 0x22) return w.toBytes();
      if (c != 0x5c) {
        w.byte(c);
        continue;
      }
      if (this.i >= this.n) break;
      const e = load<u8>(this.p + this.i++);
      switch (e) {
        case 0x22: case 0x5c: case 0x2f: w.byte(e); break;
        case 0x62: w.byte(0x08); break; // \b
        case 0x66: w.byte(0x0c); break; // \f
        case 0x6e: w.byte(0x0a); break; // \n
        case 0x72: w.byte(0x0d); break; // \r
        case 0x74: w.byte(0x09); break; // \t
        case 0x75: this.unicodeEscape(w); break; // \uXXXX
        default:
          this.fail("bad escape in string");
          return new Uint8Array(0);
      }
      if (this.error !== null) return new Uint8Array(0);
    }
    this.fail("unterminated string");
    return new Uint8Array(0);
  }

  /** hex4 reads four hex digits, or returns -1. */
  hex4(): i32 {
    if (this.i + 4 > this.n) return -1;
    let v = 0;
    for (let j = 0; j < 4; j++) {
      const c = <i32>load<u8>(this.p + this.i + j);
      let d: i32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      else return -1;
      v = (v << 4) | d;
    }
    this.i += 4;
    return v;
  }

  /**
   * unicodeEscape reads the XXXX of \uXXXX (and a following \uXXXX low
   * surrogate) and writes the code point as UTF-8; a lone surrogate becomes
   * U+FFFD, as Go's encoding/json reads it.
   */
  unicodeEscape(w: ByteWriter): void {
    let cp = this.hex4();
    if (cp < 0) {
      this.fail("bad \\u escape");
      return;
    }
    if (cp >= 0xd800 && cp < 0xdc00) {
      const save = this.i;
      let lo = -1;
      if (this.i + 2 <= this.n && load<u8>(this.p + this.i) == 0x5c && load<u8>(this.p + this.i + 1) == 0x75) {
        this.i += 2;
        lo = this.hex4();
      }
      if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      else {
        this.i = save;
        cp = 0xfffd;
      }
    } else if (cp >= 0xdc00 && cp < 0xe000) cp = 0xfffd;
    writeUTF8(w, cp);
  }

  /** readInt reads an integer (a fraction or exponent is dropped; null reads as 0). */
  readInt(): i64 {
    if (this.isNull()) return 0;
    let c = this.peek();
    let neg = false;
    if (c == 0x2d) {
      neg = true;
      this.i++;
    }
    const start = this.i;
    let v: i64 = 0;
    while (this.i < this.n) {
      c = load<u8>(this.p + this.i);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      this.i++;
    }
    if (this.i == start) {
      this.fail("expected a number");
      return 0;
    }
    // Drop a fraction or exponent.
    while (this.i < this.n) {
      c = load<u8>(this.p + this.i);
      if (!((c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x65 || c == 0x45 || c == 0x2b || c == 0x2d)) break;
      this.i++;
    }
    return neg ? -v : v;
  }

  /** readBool reads true or false (null reads as false). */
  readBool(): bool {
    const c = this.peek();
    if (c == 0x74) return this.literal("true");
    if (c == 0x66) {
      this.literal("false");
      return false;
    }
    if (!this.isNull()) this.fail("expected a boolean");
    return false;
  }

  /** readBase64 reads a base64 string into bytes (null reads as empty). */
  readBase64(): Uint8Array {
    if (this.isNull()) return new Uint8Array(0);
    const s = this.readStringBytes();
    if (this.error !== null) return new Uint8Array(0);
    const out = base64Decode(s);
    if (out === null) {
      this.fail("bad base64");
      return new Uint8Array(0);
    }
    return out;
  }

  /** readStringMap reads an object of strings (null reads as empty); other values are skipped. */
  readStringMap(): Map<string, string> {
    const m = new Map<string, string>();
    if (this.isNull() || !this.beginObject()) return m;
    for (let k = this.nextKey(); k !== null; k = this.nextKey()) {
      if (this.peek() == 0x22) m.set(k, this.readString());
      else this.skip();
    }
    return m;
  }

  /** skip reads past one value of any kind. */
  skip(depth: i32 = 0): void {
    if (depth > MAX_DEPTH) {
      this.fail("nested too deep");
      return;
    }
    const c = this.peek();
    if (c == 0x22) {
      this.readStringBytes();
    } else if (c == 0x7b) {
      this.i++;
      for (let k = this.nextKey(); k !== null; k = this.nextKey()) this.skip(depth + 1);
    } else if (c == 0x5b) {
      this.i++;
      if (this.peek() == 0x5d) {
        this.i++;
        return;
      }
      while (this.error === null) {
        this.skip(depth + 1);
        const d = this.peek();
        this.i++;
        if (d == 0x5d) return;
        if (d != 0x2c) {
          this.i--;
          this.fail("expected ',' or ']'");
        }
      }
    } else if (c == 0x74) {
      this.literal("true");
    } else if (c == 0x66) {
      this.literal("false");
    } else if (c == 0x6e) {
      this.literal("null");
    } else if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.readInt();
    } else {
      this.fail(c < 0 ? "unexpected end" : "unexpected character");
    }
  }

  /** end checks that nothing but white space follows the document. */
  end(): bool {
    if (this.peek() >= 0) return this.fail("data after the document");
    return this.error === null;
  }
}

/** writeUTF8 appends code point cp as UTF-8. */
export function writeUTF8(w: ByteWriter, cp: i32): void {
  if (cp < 0x80) {
    w.byte(<u8>cp);
  } else if (cp < 0x800) {
    w.byte(<u8>(0xc0 | (cp >> 6)));
    w.byte(<u8>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    w.byte(<u8>(0xe0 | (cp >> 12)));
    w.byte(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    w.byte(<u8>(0x80 | (cp & 0x3f)));
  } else {
    w.byte(<u8>(0xf0 | (cp >> 18)));
    w.byte(<u8>(0x80 | ((cp >> 12) & 0x3f)));
    w.byte(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    w.byte(<u8>(0x80 | (cp & 0x3f)));
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** base64Encode appends b in standard base64 with padding. */
export function base64Encode(w: ByteWriter, b: Uint8Array): void {
  const n = b.length;
  w.reserve(((n + 2) / 3) * 4);
  const src = b.dataStart;
  const alpha = changetype<usize>(B64);
  let out = w.buf.dataStart + w.len;
  let i = 0;
  for (; i + 3 <= n; i += 3) {
    const v = (<u32>load<u8>(src + i) << 16) | (<u32>load<u8>(src + i + 1) << 8) | <u32>load<u8>(src + i + 2);
    store<u8>(out, load<u8>(alpha + ((v >> 18) << 1)));
    store<u8>(out + 1, load<u8>(alpha + (((v >> 12) & 63) << 1)));
    store<u8>(out + 2, load<u8>(alpha + (((v >> 6) & 63) << 1)));
    store<u8>(out + 3, load<u8>(alpha + ((v & 63) << 1)));
    out += 4;
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (<u32>load<u8>(src + i) << 16) | (two ? <u32>load<u8>(src + i + 1) << 8 : 0);
    store<u8>(out, load<u8>(alpha + ((v >> 18) << 1)));
    store<u8>(out + 1, load<u8>(alpha + (((v >> 12) & 63) << 1)));
    store<u8>(out + 2, two ? load<u8>(alpha + (((v >> 6) & 63) << 1)) : 0x3d);
    store<u8>(out + 3, 0x3d);
    out += 4;
  }
  w.len = <i32>(out - w.buf.dataStart);
}

/** b64Value returns the value of base64 digit c, or -1. */
// @ts-ignore: decorator
@inline function b64Value(c: u32): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == 0x2b) return 62;
  if (c == 0x2f) return 63;
  return -1;
}

/** base64Decode decodes standard base64 with padding, or returns null if s is not that. */
export function base64Decode(s: Uint8Array): Uint8Array | null {
  const n = s.length;
  if (n % 4 != 0) return null;
  if (n == 0) return new Uint8Array(0);
  const p = s.dataStart;
  let pad = 0;
  if (load<u8>(p + n - 1) == 0x3d) pad++;
  if (load<u8>(p + n - 2) == 0x3d) pad++;
  const out = new Uint8Array((n / 4) * 3 - pad);
  const o = out.dataStart;
  let j = 0;
  for (let i = 0; i < n; i += 4) {
    const a = b64Value(load<u8>(p + i));
    const b = b64Value(load<u8>(p + i + 1));
    const last = i + 4 == n;
    const c3 = load<u8>(p + i + 2);
    const c4 = load<u8>(p + i + 3);
    const c = last && pad == 2 ? 0 : b64Value(c3);
    const d = last && pad >= 1 ? 0 : b64Value(c4);
    if ((a | b | c | d) < 0) return null;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    store<u8>(o + j, <u8>(v >> 16));
    if (j + 1 < out.length) store<u8>(o + j + 1, <u8>(v >> 8));
    if (j + 2 < out.length) store<u8>(o + j + 2, <u8>v);
    j += 3;
  }
  return out;
}
