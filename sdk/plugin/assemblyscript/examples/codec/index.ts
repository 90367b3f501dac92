// xor: an example Mesh codec. It XORs every byte with a key byte, so
// encoding twice gives the input back. Not encryption: an example of the
// codec kit.
//
// Build: ./build.sh . xor.wasm

import { Codec, Config } from "mesh-plugin/codec";
export { mesh_alloc, encode, decode, mesh_configure } from "mesh-plugin/codec";

/** key is the byte every payload byte is XORed with (config "key", 0-255). */
let key: u8 = 0x5a;

/** configure reads the optional key, in decimal (90) or hex (0x5a). */
function configure(cfg: Config): string | null {
  const s = cfg.get("key");
  if (s === null) return null;
  const k = parseByte(s);
  if (k < 0) return 'xor: key must be a byte (0-255), got "' + s + '"';
  key = <u8>k;
  return null;
}

/** parseByte reads an unsigned integer the way Go's strconv.ParseUint(s, 0, 8) does (0x, 0o, 0b and leading-0 octal prefixes), or returns -1. */
function parseByte(s: string): i32 {
  let base = 10;
  let i = 0;
  if (s.length > 1 && s.charCodeAt(0) == 0x30) {
    const p = s.charCodeAt(1) | 0x20;
    if (p == 0x78) base = 16;
    else if (p == 0x6f) base = 8;
    else if (p == 0x62) base = 2;
    if (base != 10) i = 2;
    else {
      base = 8;
      i = 1;
    }
  }
  if (i >= s.length) return -1;
  let v = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d = 99;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x57;
    if (d >= base) return -1;
    v = v * base + d;
    if (v > 255) return -1;
  }
  return v;
}

/**
 * xor XORs data with the key in place and returns it; with key 0 it returns
 * data untouched (the identity call, without a copy). 32 bytes per step.
 */
function xor(data: Uint8Array): Uint8Array {
  if (key == 0) return data;
  const k = <u64>key * 0x0101010101010101;
  let p = data.dataStart;
  const end = p + <usize>data.byteLength;
  for (; p + 32 <= end; p += 32) {
    store<u64>(p, load<u64>(p) ^ k);
    store<u64>(p, load<u64>(p, 8) ^ k, 8);
    store<u64>(p, load<u64>(p, 16) ^ k, 16);
    store<u64>(p, load<u64>(p, 24) ^ k, 24);
  }
  for (; p < end; p++) store<u8>(p, load<u8>(p) ^ key);
  return data;
}

Codec.register(xor, xor, configure);
