// The codec kit: the raw ABI of wit/ABI.md §2 (memory, mesh_alloc, encode,
// decode, mesh_configure). A codec registers its functions and re-exports
// the four exports from its entry file (AssemblyScript only exports what
// the entry file exports):
//
//   import { Codec, Config } from "mesh-plugin/codec";
//   export { mesh_alloc, encode, decode, mesh_configure } from "mesh-plugin/codec";
//   Codec.register(encodeFn, decodeFn, configureFn);
//
// Memory: mesh_alloc starts each call on a fresh scratch heap (heap.ts), so
// calls never leak. What the entry file's top-level statements and the
// configure function allocate is kept for the life of the instance;
// anything an encode or decode allocates is gone at the next call, so do
// not keep it in a global.

import { JSONReader } from "./json";
import "./abort"; // build.sh aliases abort to its meshAbort

/** Transform turns an input into an output. It may change input in place and return it; to fail, return Codec.fail(message). */
export type Transform = (input: Uint8Array) => Uint8Array;

/** Configure checks and applies the plugin's configuration; it returns null, or an error message. */
export type Configure = (config: Config) => string | null;

/** Config is the plugin's configuration: string values by key. */
export class Config {
  values: Map<string, string> = new Map<string, string>();

  /** has reports whether key is set. */
  has(key: string): bool {
    return this.values.has(key);
  }

  /** get returns the value of key, or null. */
  get(key: string): string | null {
    return this.values.has(key) ? this.values.get(key) : null;
  }

  /** getOr returns the value of key, or def when it is not set. */
  getOr(key: string, def: string): string {
    return this.values.has(key) ? this.values.get(key) : def;
  }

  /** keys lists the keys that are set. */
  keys(): string[] {
    return this.values.keys();
  }
}

let encoder: Transform | null = null;
let decoder: Transform | null = null;
let configurer: Configure | null = null;
let failure: string | null = null; // set by Codec.fail during a call
let inputPtr: usize = 0; // the buffer of the last mesh_alloc
let inputLen: u32 = 0;

/** Codec holds the registered functions. */
export class Codec {
  /** register makes encode, decode and configure (optional) the codec's functions. */
  static register(encode: Transform, decode: Transform, configure: Configure | null = null): void {
    encoder = encode;
    decoder = decode;
    configurer = configure;
  }

  /** fail makes the current encode or decode fail with message; return its result. */
  static fail(message: string): Uint8Array {
    if (failure === null) failure = message;
    return new Uint8Array(0);
  }
}

/** pack is a result of len bytes at ptr (wit/ABI.md §2.2). */
// @ts-ignore: decorator
@inline function pack(ptr: usize, len: u32): u64 {
  return (<u64>ptr << 32) | <u64>len;
}

/** packError is an error result carrying message. */
function packError(message: string): u64 {
  const b = String.UTF8.encode(message);
  return (<u64>1 << 63) | pack(changetype<usize>(b), <u32>b.byteLength);
}

/** inputAt returns the mesh_alloc buffer at ptr as an array (no copy), or null if ptr is not it. */
function inputAt(ptr: usize, len: u32): Uint8Array | null {
  if (ptr != inputPtr || len > inputLen) return null;
  return Uint8Array.wrap(changetype<ArrayBuffer>(ptr), 0, <i32>len);
}

/** transform runs fn on the input at ptr and packs its result. */
function transform(fn: Transform | null, name: string, ptr: usize, len: u32): u64 {
  if (fn === null) return packError("codec: no " + name + " function registered: call Codec.register in the plugin's entry file");
  const input = inputAt(ptr, len);
  if (input === null) return packError("codec: " + name + " was called on memory mesh_alloc did not return");
  failure = null;
  const out = fn(input);
  const f = failure;
  if (f !== null) return packError(f);
  return pack(out.dataStart, <u32>out.byteLength);
}

/** mesh_alloc starts a call: it drops the previous call's memory and returns len writable bytes (ABI: mesh_alloc(len) -> ptr). */
export function mesh_alloc(len: u32): u32 {
  // @ts-ignore: the kit's runtime (heap.ts) declares it
  __mesh_scratch();
  failure = null;
  // An ArrayBuffer object without zeroing: the host overwrites it.
  // @ts-ignore: the kit's runtime (heap.ts) declares it
  inputPtr = __mesh_new_raw(<usize>len, idof<ArrayBuffer>());
  inputLen = len;
  return <u32>inputPtr;
}

/** encode runs the registered encode function (ABI: encode(ptr, len) -> packed result). */
export function encode(ptr: u32, len: u32): u64 {
  return transform(encoder, "encode", ptr, len);
}

/** decode runs the registered decode function (ABI: decode(ptr, len) -> packed result). */
export function decode(ptr: u32, len: u32): u64 {
  return transform(decoder, "decode", ptr, len);
}

/** mesh_configure reads the configuration object and runs the registered configure function (ABI: 0 or a packed error). */
export function mesh_configure(ptr: u32, len: u32): u64 {
  const input = inputAt(ptr, len);
  if (input === null) return packError("codec: mesh_configure was called on memory mesh_alloc did not return");
  const r = new JSONReader(input);
  const cfg = new Config();
  cfg.values = r.readStringMap();
  r.end();
  const e = r.error;
  if (e !== null) return packError("codec: bad configuration document: " + e);
  const fn = configurer;
  if (fn !== null) {
    const msg = fn(cfg);
    if (msg !== null) return packError(msg);
  }
  // Keep what configure made (and the configuration) for the instance's life.
  // @ts-ignore: the kit's runtime (heap.ts) declares it
  __mesh_keep();
  return 0;
}
