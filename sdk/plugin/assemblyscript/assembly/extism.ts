// The Extism guest ABI (wit/ABI.md §3) for auth policies and route
// handlers: input, output, error, configuration and logging through the
// extism:host/env imports. Offsets are in the Extism kernel's memory, not
// the plugin's: bytes are copied in and out eight at a time.
//
// The kit has its own glue rather than @extism/as-pdk: version 1.0.0 of
// that package gets UTF-8 lengths wrong for non-ASCII strings, and one
// file here keeps the kit free of dependencies besides the compiler.

import "./abort"; // build.sh aliases abort to its meshAbort

// @ts-ignore: decorator
@external("extism:host/env", "input_length")
declare function input_length(): u64;
// @ts-ignore: decorator
@external("extism:host/env", "input_load_u8")
declare function input_load_u8(off: u64): u32;
// @ts-ignore: decorator
@external("extism:host/env", "input_load_u64")
declare function input_load_u64(off: u64): u64;
// @ts-ignore: decorator
@external("extism:host/env", "alloc")
declare function extism_alloc(n: u64): u64;
// @ts-ignore: decorator
@external("extism:host/env", "free")
declare function extism_free(off: u64): void;
// @ts-ignore: decorator
@external("extism:host/env", "length")
declare function extism_length(off: u64): u64;
// @ts-ignore: decorator
@external("extism:host/env", "load_u8")
declare function load_u8(off: u64): u32;
// @ts-ignore: decorator
@external("extism:host/env", "load_u64")
declare function load_u64(off: u64): u64;
// @ts-ignore: decorator
@external("extism:host/env", "store_u8")
declare function store_u8(off: u64, v: u32): void;
// @ts-ignore: decorator
@external("extism:host/env", "store_u64")
declare function store_u64(off: u64, v: u64): void;
// @ts-ignore: decorator
@external("extism:host/env", "output_set")
declare function output_set(off: u64, n: u64): void;
// @ts-ignore: decorator
@external("extism:host/env", "error_set")
declare function error_set(off: u64): void;
// @ts-ignore: decorator
@external("extism:host/env", "config_get")
declare function config_get(off: u64): u64;
// @ts-ignore: decorator
@external("extism:host/env", "log_debug")
declare function log_debug(off: u64): void;
// @ts-ignore: decorator
@external("extism:host/env", "log_info")
declare function log_info(off: u64): void;
// @ts-ignore: decorator
@external("extism:host/env", "log_warn")
declare function log_warn(off: u64): void;
// @ts-ignore: decorator
@external("extism:host/env", "log_error")
declare function log_error(off: u64): void;

/** Level is a log level. */
export enum Level {
  Debug,
  Info,
  Warn,
  Error,
}

/** input returns the call's input. */
export function input(): Uint8Array {
  const n = <i32>input_length();
  const b = new Uint8Array(n);
  const p = b.dataStart;
  let i = 0;
  for (; i + 8 <= n; i += 8) store<u64>(p + i, input_load_u64(i));
  for (; i < n; i++) store<u8>(p + i, <u8>input_load_u8(i));
  return b;
}

/** write copies n bytes at ptr into a new kernel block and returns its offset. */
function write(ptr: usize, n: i32): u64 {
  const off = extism_alloc(n);
  let i = 0;
  for (; i + 8 <= n; i += 8) store_u64(off + i, load<u64>(ptr + i));
  for (; i < n; i++) store_u8(off + i, load<u8>(ptr + i));
  return off;
}

/** writeString copies s, as UTF-8, into a new kernel block. */
function writeString(s: string): u64 {
  const b = String.UTF8.encode(s);
  return write(changetype<usize>(b), b.byteLength);
}

/** read copies the kernel block at off into a new array. */
function read(off: u64): Uint8Array {
  const n = <i32>extism_length(off);
  const b = new Uint8Array(n);
  const p = b.dataStart;
  let i = 0;
  for (; i + 8 <= n; i += 8) store<u64>(p + i, load_u64(off + i));
  for (; i < n; i++) store<u8>(p + i, <u8>load_u8(off + i));
  return b;
}

/** output sets the call's output to a copy of b. */
export function output(b: Uint8Array): void {
  output_set(write(b.dataStart, b.length), b.length);
}

/** setError sets the call's error message; the export then returns non-zero. */
export function setError(message: string): void {
  error_set(writeString(message));
}

/** config returns the plugin's configuration value for key, or null; Extism hands an empty value over as none. */
export function config(key: string): string | null {
  const k = writeString(key);
  const off = config_get(k);
  extism_free(k);
  if (off == 0) return null;
  const v = read(off);
  extism_free(off);
  return String.UTF8.decodeUnsafe(v.dataStart, v.length);
}

/** configOr returns config(key), or def when it is not set. */
export function configOr(key: string, def: string): string {
  const v = config(key);
  return v !== null ? v : def;
}

/** log writes message to the node's log at level, tagged with the plugin's name. */
export function log(level: Level, message: string): void {
  const off = writeString(message);
  switch (level) {
    case Level.Debug: log_debug(off); break;
    case Level.Info: log_info(off); break;
    case Level.Warn: log_warn(off); break;
    default: log_error(off);
  }
}

// failure is the message fail recorded during this call, if any.
let failure: string | null = null;

/**
 * fail makes the current authorize or handle call fail with message (the
 * host then refuses the request, or answers a system error): call it and
 * return any value from the handler.
 */
export function fail(message: string): void {
  if (failure === null) failure = message;
}

/**
 * run is the body of an Extism export: it starts a fresh scratch heap,
 * calls body, and reports a failure recorded with fail. It returns the
 * export's result: 0, or 1 with the error set.
 */
export function run(body: () => Uint8Array | null, what: string): i32 {
  // @ts-ignore: the kit's runtime (heap.ts) declares it
  __mesh_scratch();
  failure = null;
  const out = body();
  const f = failure;
  if (f !== null) {
    setError(f);
    return 1;
  }
  if (out === null) {
    setError(what + " produced no output");
    return 1;
  }
  output(out);
  return 0;
}
