//! `mesh_plugin`: the Rust kit for Mesh plugins (codec, auth policy, route
//! handler), in one source file and without any crate. Put this file beside
//! your `lib.rs`, declare it at the crate root with `mod mesh_plugin;` (the
//! macros expect that name and place), and export your functions with one
//! of the macros:
//!
//! ```ignore
//! mod mesh_plugin;
//! use mesh_plugin::{Output, CodecResult};
//! fn identity(input: &[u8]) -> CodecResult<'_> { Ok(Output::Borrowed(input)) }
//! mesh_plugin::codec!(identity, identity);
//! ```
//!
//! Sections: 1. the codec ABI (raw: `mesh_alloc`, `encode`, `decode`,
//! `mesh_configure`); 2. the Extism guest ABI (input, output, errors,
//! config, vars, logs); 3. WASI randomness; 4. the JSON documents of the
//! auth and route kinds; 5. a small JSON reader and writer and base64.
//! The contract is `wit/ABI.md` of the Mesh repository.
//!
//! Build for `wasm32-unknown-unknown` as a `cdylib` (see `build.sh`).

#![allow(dead_code, unused_macros, unused_imports)]

use std::collections::BTreeMap;

/// A string map: the plugin's configuration, or HTTP headers (lower-case
/// names, one value each).
pub type Map = BTreeMap<String, String>;

// ---------------------------------------------------------------------------
// 1. Codecs: the raw ABI (ABI.md §2)
// ---------------------------------------------------------------------------

/// What an encode or decode function returns: bytes borrowed from the input
/// (or any longer-lived buffer), returned without a copy, or a new vector,
/// kept alive by the kit until the next call into the instance.
pub enum Output<'a> {
    /// Bytes the kit hands to the host as they are (e.g. the input itself).
    Borrowed(&'a [u8]),
    /// A new buffer.
    Owned(Vec<u8>),
}

impl<'a> From<&'a [u8]> for Output<'a> {
    fn from(b: &'a [u8]) -> Self {
        Output::Borrowed(b)
    }
}

impl From<Vec<u8>> for Output<'static> {
    fn from(v: Vec<u8>) -> Self {
        Output::Owned(v)
    }
}

/// The result of an encode or decode function: the output, or an error
/// message (the host fails the call with it, PTP code E0000000616).
pub type CodecResult<'a> = Result<Output<'a>, String>;

/// An encode or decode function.
pub type CodecFn = for<'a> fn(&'a [u8]) -> CodecResult<'a>;

/// A configure function: gets the plugin's configuration once per instance,
/// before any encode or decode; an error fails loading the plugin.
pub type ConfigureFn = fn(&Map) -> Result<(), String>;

/// Exports the raw codec ABI from the crate root: `mesh_alloc`, `encode`,
/// `decode` and `mesh_configure`, calling `$encode` and `$decode` (both
/// [`CodecFn`]) and the optional `$configure` ([`ConfigureFn`]).
macro_rules! codec {
    ($encode:path, $decode:path) => {
        $crate::mesh_plugin::codec!($encode, $decode, $crate::mesh_plugin::accept_config);
    };
    ($encode:path, $decode:path, $configure:path) => {
        const __MESH_ENCODE: $crate::mesh_plugin::CodecFn = $encode;
        const __MESH_DECODE: $crate::mesh_plugin::CodecFn = $decode;
        const __MESH_CONFIGURE: $crate::mesh_plugin::ConfigureFn = $configure;
        #[doc(hidden)]
        mod __mesh_codec_exports {
            /// ABI: an input buffer of `len` bytes.
            #[no_mangle]
            pub extern "C" fn mesh_alloc(len: u32) -> u32 {
                $crate::mesh_plugin::__codec_alloc(len)
            }
            /// ABI: encodes the input at `ptr`; returns a packed result.
            #[no_mangle]
            pub extern "C" fn encode(ptr: u32, len: u32) -> u64 {
                $crate::mesh_plugin::__codec_call(ptr, len, super::__MESH_ENCODE)
            }
            /// ABI: decodes the input at `ptr`; returns a packed result.
            #[no_mangle]
            pub extern "C" fn decode(ptr: u32, len: u32) -> u64 {
                $crate::mesh_plugin::__codec_call(ptr, len, super::__MESH_DECODE)
            }
            /// ABI: takes the configuration (a JSON object of strings).
            #[no_mangle]
            pub extern "C" fn mesh_configure(ptr: u32, len: u32) -> u64 {
                $crate::mesh_plugin::__codec_configure(ptr, len, super::__MESH_CONFIGURE)
            }
        }
    };
}
pub(crate) use codec;

/// The configure function of a codec that takes no configuration: accepts
/// anything.
pub fn accept_config(_: &Map) -> Result<(), String> {
    Ok(())
}

/// The instance's codec buffers. Wasm instances are single-threaded, and
/// the host makes one call at a time.
struct CodecState {
    input: Vec<u8>,  // the mesh_alloc buffer, reused; never shrinks
    output: Vec<u8>, // the last Owned output or error message
}

static mut CODEC: CodecState = CodecState { input: Vec::new(), output: Vec::new() };

fn codec_state() -> &'static mut CodecState {
    // Safety: wasm32 is single-threaded and the host serialises calls.
    unsafe { &mut *std::ptr::addr_of_mut!(CODEC) }
}

/// The error flag of a packed result.
const ERROR_BIT: u64 = 1 << 63;

/// Packs `len` bytes at `ptr` as a result: `ptr<<32 | len`.
fn pack(b: &[u8]) -> u64 {
    if b.is_empty() {
        return 0;
    }
    (b.as_ptr() as usize as u64) << 32 | b.len() as u64
}

/// Keeps `msg` as the instance's error and packs it with the error bit.
fn pack_error(msg: String) -> u64 {
    let s = codec_state();
    s.output = if msg.is_empty() { b"codec: error without a message".to_vec() } else { msg.into_bytes() };
    (s.output.as_ptr() as usize as u64) << 32 | s.output.len() as u64 | ERROR_BIT
}

#[doc(hidden)]
pub fn __codec_alloc(len: u32) -> u32 {
    let s = codec_state();
    s.output = Vec::new(); // the last output is no longer needed (ABI.md §2.3)
    let n = len as usize;
    if s.input.len() < n {
        // Exact, so a 128 MiB input does not reserve 256 MiB; an allocation
        // failure aborts, a trap, as ABI.md §2.2 wants.
        s.input.reserve_exact(n - s.input.len());
        s.input.resize(n, 0);
    }
    s.input.as_mut_ptr() as usize as u32
}

/// The `len` input bytes at `ptr`, which must lie in the mesh_alloc buffer.
fn codec_input(ptr: u32, len: u32) -> Result<&'static [u8], String> {
    let s = codec_state();
    if len == 0 {
        return Ok(&[]);
    }
    let base = s.input.as_ptr() as usize;
    let (p, n) = (ptr as usize, len as usize);
    if p < base || p - base > s.input.len() || s.input.len() - (p - base) < n {
        return Err("codec: input is not inside the buffer returned by mesh_alloc".to_string());
    }
    Ok(&s.input[p - base..p - base + n])
}

#[doc(hidden)]
pub fn __codec_call(ptr: u32, len: u32, f: CodecFn) -> u64 {
    let input = match codec_input(ptr, len) {
        Ok(b) => b,
        Err(e) => return pack_error(e),
    };
    match f(input) {
        Ok(Output::Borrowed(b)) => pack(b),
        Ok(Output::Owned(v)) => {
            let s = codec_state();
            s.output = v;
            pack(&s.output)
        }
        Err(e) => pack_error(e),
    }
}

#[doc(hidden)]
pub fn __codec_configure(ptr: u32, len: u32, f: ConfigureFn) -> u64 {
    let raw = match codec_input(ptr, len) {
        Ok(b) => b,
        Err(e) => return pack_error(e),
    };
    let mut cfg = Map::new();
    if !raw.is_empty() {
        match json::Reader::new(raw).document(|r| r.map()) {
            Ok(m) => cfg = m,
            Err(e) => return pack_error(format!("codec: configuration is not a JSON object of strings: {}", e)),
        }
    }
    match f(&cfg) {
        Ok(()) => 0,
        Err(e) => pack_error(e),
    }
}

// ---------------------------------------------------------------------------
// 2. Auth policies and route handlers: the Extism guest ABI (ABI.md §3)
// ---------------------------------------------------------------------------

/// The `extism:host/env` imports. Offsets are in the Extism kernel's
/// memory, not in this module's.
mod extism {
    #[link(wasm_import_module = "extism:host/env")]
    extern "C" {
        pub fn input_length() -> u64;
        pub fn input_load_u8(off: u64) -> u32;
        pub fn input_load_u64(off: u64) -> u64;
        #[link_name = "alloc"]
        pub fn kalloc(n: u64) -> u64;
        #[link_name = "free"]
        pub fn kfree(off: u64);
        #[link_name = "length"]
        pub fn klength(off: u64) -> u64;
        pub fn load_u8(off: u64) -> u32;
        pub fn load_u64(off: u64) -> u64;
        pub fn store_u8(off: u64, v: u32);
        pub fn store_u64(off: u64, v: u64);
        pub fn output_set(off: u64, n: u64);
        pub fn error_set(off: u64);
        pub fn config_get(off: u64) -> u64;
        pub fn var_get(off: u64) -> u64;
        pub fn var_set(name: u64, val: u64);
        pub fn log_debug(off: u64);
        pub fn log_info(off: u64);
        pub fn log_warn(off: u64);
        pub fn log_error(off: u64);
    }
}

/// Copies `b` into a new kernel block and returns its offset.
fn kernel_write(b: &[u8]) -> u64 {
    unsafe {
        let off = extism::kalloc(b.len() as u64);
        let mut words = b.chunks_exact(8);
        let mut i = 0u64;
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            extism::store_u64(off + i, u64::from_le_bytes(a));
            i += 8;
        }
        for &c in words.remainder() {
            extism::store_u8(off + i, c as u32);
            i += 1;
        }
        off
    }
}

/// Copies `n` bytes out with `load8` and `load64` (offset-based readers).
fn kernel_read(
    n: u64,
    load8: unsafe extern "C" fn(u64) -> u32,
    load64: unsafe extern "C" fn(u64) -> u64,
    base: u64,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(n as usize);
    let mut i = 0u64;
    unsafe {
        while i + 8 <= n {
            b.extend_from_slice(&load64(base + i).to_le_bytes());
            i += 8;
        }
        while i < n {
            b.push(load8(base + i) as u8);
            i += 1;
        }
    }
    b
}

/// The call's input.
pub fn input() -> Vec<u8> {
    let n = unsafe { extism::input_length() };
    kernel_read(n, extism::input_load_u8, extism::input_load_u64, 0)
}

/// Sets the call's output to a copy of `b`.
pub fn output(b: &[u8]) {
    let off = kernel_write(b);
    unsafe { extism::output_set(off, b.len() as u64) }
}

/// Sets the call's error message; the export must then return non-zero
/// (the macros do this for you when your function returns `Err`).
pub fn error_set(msg: &str) {
    unsafe { extism::error_set(kernel_write(msg.as_bytes())) }
}

/// Reads the kernel block at `off` and frees it.
fn kernel_take(off: u64) -> Vec<u8> {
    unsafe {
        let n = extism::klength(off);
        let v = kernel_read(n, extism::load_u8, extism::load_u64, off);
        extism::kfree(off);
        v
    }
}

/// The plugin's configuration value for `key`. Extism hands an empty value
/// over as no value, so an empty value reads as `None`.
pub fn config_get(key: &str) -> Option<String> {
    let k = kernel_write(key.as_bytes());
    let off = unsafe { extism::config_get(k) };
    unsafe { extism::kfree(k) };
    if off == 0 {
        return None;
    }
    Some(String::from_utf8_lossy(&kernel_take(off)).into_owned())
}

/// The value of the instance's variable `key` (vars live in one instance:
/// they are lost when it is replaced and not shared across the pool).
pub fn var_get(key: &str) -> Option<Vec<u8>> {
    let k = kernel_write(key.as_bytes());
    let off = unsafe { extism::var_get(k) };
    unsafe { extism::kfree(k) };
    if off == 0 {
        return None;
    }
    Some(kernel_take(off))
}

/// Sets the instance's variable `key` to `val`; `None` deletes it.
pub fn var_set(key: &str, val: Option<&[u8]>) {
    let k = kernel_write(key.as_bytes());
    let v = val.map_or(0, kernel_write);
    unsafe { extism::var_set(k, v) }
}

/// Writes `msg` to the node's log at level debug.
pub fn log_debug(msg: &str) {
    unsafe { extism::log_debug(kernel_write(msg.as_bytes())) }
}

/// Writes `msg` to the node's log at level info.
pub fn log_info(msg: &str) {
    unsafe { extism::log_info(kernel_write(msg.as_bytes())) }
}

/// Writes `msg` to the node's log at level warn.
pub fn log_warn(msg: &str) {
    unsafe { extism::log_warn(kernel_write(msg.as_bytes())) }
}

/// Writes `msg` to the node's log at level error.
pub fn log_error(msg: &str) {
    unsafe { extism::log_error(kernel_write(msg.as_bytes())) }
}

/// A JSON document the kit can read from the input.
pub trait FromJson: Sized {
    /// Reads one value.
    fn read(r: &mut json::Reader) -> Result<Self, String>;
}

/// A JSON document the kit can write as the output.
pub trait ToJson {
    /// Writes the value.
    fn write(&self, w: &mut json::Writer);
}

#[doc(hidden)]
pub fn __run_json<I: FromJson, O: ToJson>(h: fn(I) -> Result<O, String>) -> i32 {
    let raw = input();
    let req = match json::Reader::new(&raw).document(I::read) {
        Ok(v) => v,
        Err(e) => {
            error_set(&format!("bad input: {}", e));
            return 1;
        }
    };
    drop(raw);
    match h(req) {
        Ok(out) => {
            let mut w = json::Writer::new();
            out.write(&mut w);
            output(w.finish().as_bytes());
            0
        }
        Err(e) => {
            error_set(if e.is_empty() { "plugin failed without a message" } else { &e });
            1
        }
    }
}

/// Exports `authorize` from the crate root, calling `$policy`, a
/// `fn(AuthRequest) -> Result<AuthDecision, String>`. An `Err` fails the
/// call (the request is refused unless the plugin is `fail_open`).
macro_rules! auth {
    ($policy:path) => {
        const __MESH_POLICY: fn($crate::mesh_plugin::AuthRequest) -> Result<$crate::mesh_plugin::AuthDecision, String> =
            $policy;
        #[doc(hidden)]
        mod __mesh_auth_export {
            /// ABI: decides the AuthRequest of the input.
            #[no_mangle]
            pub extern "C" fn authorize() -> i32 {
                $crate::mesh_plugin::__run_json(super::__MESH_POLICY)
            }
        }
    };
}

pub(crate) use auth;

/// Exports `handle` from the crate root, calling `$handler`, a
/// `fn(RouteRequest) -> Result<RouteResponse, String>`. An `Err` answers
/// the request with E0000000500.
macro_rules! route {
    ($handler:path) => {
        const __MESH_HANDLER: fn(
            $crate::mesh_plugin::RouteRequest,
        ) -> Result<$crate::mesh_plugin::RouteResponse, String> = $handler;
        #[doc(hidden)]
        mod __mesh_route_export {
            /// ABI: answers the RouteRequest of the input.
            #[no_mangle]
            pub extern "C" fn handle() -> i32 {
                $crate::mesh_plugin::__run_json(super::__MESH_HANDLER)
            }
        }
    };
}

pub(crate) use route;

// ---------------------------------------------------------------------------
// 3. Randomness (WASI; the host's cryptographic source)
// ---------------------------------------------------------------------------

mod wasi {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        pub fn random_get(buf: *mut u8, len: usize) -> u16;
    }
}

/// Fills `buf` with random bytes from the host's cryptographic source
/// (imports `wasi_snapshot_preview1.random_get`, allowed for every kind).
pub fn random(buf: &mut [u8]) -> Result<(), String> {
    match unsafe { wasi::random_get(buf.as_mut_ptr(), buf.len()) } {
        0 => Ok(()),
        errno => Err(format!("random_get failed with WASI errno {}", errno)),
    }
}

// ---------------------------------------------------------------------------
// 4. The JSON documents (host/plugin/wire.go, ABI.md §4 and §5)
// ---------------------------------------------------------------------------

/// The input of an auth policy: one request's metadata (ABI.md §4.1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthRequest {
    pub method: String,       // push, pop, peek, release; for a route path, its HTTP method
    pub session: String,      // x-ptp-session-id
    pub topic: String,        // the message topic
    pub path: String,         // a route handler's path; empty for container calls
    pub source_node: String,  // the calling node
    pub target_node: String,  // x-ptp-target-node-id
    pub token: String,        // x-ptp-token
    pub remote_addr: String,  // the caller's IP address
    pub tls_identity: String, // the partner proven by its client certificate
    pub caller: String,       // "container" or "partner"
    pub now: i64,             // the host's clock, Unix seconds
}

/// The output of an auth policy (ABI.md §4.2).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthDecision {
    pub allow: bool,    // true admits the request
    pub reason: String, // shown to a refused caller
    pub headers: Map,   // added to an admitted push's metadata
    pub ttl_ms: i64,    // cache lifetime: 0 the plugin's, < 0 not cached
}

impl AuthDecision {
    /// Admits the request.
    pub fn allow() -> Self {
        AuthDecision { allow: true, ..Default::default() }
    }
    /// Refuses the request, telling the caller `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        AuthDecision { reason: reason.into(), ..Default::default() }
    }
}

impl FromJson for AuthRequest {
    fn read(r: &mut json::Reader) -> Result<Self, String> {
        let mut q = AuthRequest::default();
        r.object(|k, r| {
            match k {
                "method" => q.method = r.string()?,
                "session" => q.session = r.string()?,
                "topic" => q.topic = r.string()?,
                "path" => q.path = r.string()?,
                "source_node" => q.source_node = r.string()?,
                "target_node" => q.target_node = r.string()?,
                "token" => q.token = r.string()?,
                "remote_addr" => q.remote_addr = r.string()?,
                "tls_identity" => q.tls_identity = r.string()?,
                "caller" => q.caller = r.string()?,
                "now" => q.now = r.int()?,
                _ => r.skip()?,
            }
            Ok(())
        })?;
        Ok(q)
    }
}

impl ToJson for AuthRequest {
    fn write(&self, w: &mut json::Writer) {
        w.begin();
        w.str("method", &self.method, false);
        w.str("session", &self.session, false);
        w.str("topic", &self.topic, true);
        w.str("path", &self.path, true);
        w.str("source_node", &self.source_node, true);
        w.str("target_node", &self.target_node, true);
        w.str("token", &self.token, true);
        w.str("remote_addr", &self.remote_addr, true);
        w.str("tls_identity", &self.tls_identity, true);
        w.str("caller", &self.caller, false);
        w.int("now", self.now, false);
        w.end();
    }
}

impl ToJson for AuthDecision {
    fn write(&self, w: &mut json::Writer) {
        w.begin();
        w.boolean("allow", self.allow);
        w.str("reason", &self.reason, true);
        w.map("headers", &self.headers);
        w.int("ttl_ms", self.ttl_ms, true);
        w.end();
    }
}

impl FromJson for AuthDecision {
    fn read(r: &mut json::Reader) -> Result<Self, String> {
        let mut d = AuthDecision::default();
        r.object(|k, r| {
            match k {
                "allow" => d.allow = r.boolean()?,
                "reason" => d.reason = r.string()?,
                "headers" => d.headers = r.map()?,
                "ttl_ms" => d.ttl_ms = r.int()?,
                _ => r.skip()?,
            }
            Ok(())
        })?;
        Ok(d)
    }
}

/// The input of a route handler: one HTTP request (ABI.md §5.1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteRequest {
    pub method: String,       // the HTTP method
    pub path: String,         // the URL path, or the x-ptp-uri of an invoke
    pub query: String,        // the raw query, without '?'
    pub headers: Map,         // lower-case names, first value
    pub body: Vec<u8>,        // the request body (base64 in JSON)
    pub remote_addr: String,  // the caller's IP address
    pub tls_identity: String, // the partner proven by its client certificate
}

/// What a route handler does with a request (ABI.md §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteAction {
    /// Answer with `status`, `headers`, `body`.
    Respond,
    /// Send the request to `target`, adding `headers`.
    Forward,
    /// Not this plugin's request: the node handles it as usual.
    Next,
}

impl RouteAction {
    /// The action's name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            RouteAction::Respond => "respond",
            RouteAction::Forward => "forward",
            RouteAction::Next => "next",
        }
    }
}

impl Default for RouteAction {
    fn default() -> Self {
        RouteAction::Next
    }
}

/// The output of a route handler (ABI.md §5.2): the action and its fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteResponse {
    pub action: RouteAction,
    pub status: i64,    // respond: the HTTP status; 0 means 200
    pub headers: Map,   // respond: reply headers; forward: headers to set
    pub body: Vec<u8>,  // respond: the reply body
    pub target: String, // forward: "http://host:port" or "node:<id>"
}

impl RouteResponse {
    /// Answers with `status` and `body`.
    pub fn respond(status: i64, body: impl Into<Vec<u8>>) -> Self {
        RouteResponse { action: RouteAction::Respond, status, body: body.into(), ..Default::default() }
    }
    /// Passes the request on to `target`.
    pub fn forward(target: impl Into<String>) -> Self {
        RouteResponse { action: RouteAction::Forward, target: target.into(), ..Default::default() }
    }
    /// Hands the request back to the node.
    pub fn next() -> Self {
        RouteResponse::default()
    }
    /// Sets header `name` (lower-case) to `value`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_string(), value.to_string());
        self
    }
}

impl FromJson for RouteRequest {
    fn read(r: &mut json::Reader) -> Result<Self, String> {
        let mut q = RouteRequest::default();
        r.object(|k, r| {
            match k {
                "method" => q.method = r.string()?,
                "path" => q.path = r.string()?,
                "query" => q.query = r.string()?,
                "headers" => q.headers = r.map()?,
                "body" => q.body = json::base64_decode(r.string()?.as_bytes())?,
                "remote_addr" => q.remote_addr = r.string()?,
                "tls_identity" => q.tls_identity = r.string()?,
                _ => r.skip()?,
            }
            Ok(())
        })?;
        Ok(q)
    }
}

impl ToJson for RouteResponse {
    fn write(&self, w: &mut json::Writer) {
        w.begin();
        w.str("action", self.action.name(), false);
        w.int("status", self.status, true);
        w.map("headers", &self.headers);
        w.bytes("body", &self.body);
        w.str("target", &self.target, true);
        w.end();
    }
}

// ---------------------------------------------------------------------------
// 5. JSON and base64
// ---------------------------------------------------------------------------

/// A small JSON reader and writer, enough for the kit's documents: objects,
/// strings, integers, booleans, null; other values are skipped.
pub mod json {
    use super::Map;

    /// How deep skipped values may nest.
    const MAX_DEPTH: u32 = 64;

    /// Reads JSON values from a byte slice. It never reads past the end and
    /// reports what it expected where.
    pub struct Reader<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Reader<'a> {
        /// A reader over `b`.
        pub fn new(b: &'a [u8]) -> Self {
            Reader { b, i: 0 }
        }

        /// Reads one whole document with `f`: nothing but spaces may follow.
        pub fn document<T>(mut self, f: impl FnOnce(&mut Reader<'a>) -> Result<T, String>) -> Result<T, String> {
            let v = f(&mut self)?;
            if self.peek().is_some() {
                return Err(self.err("end of input"));
            }
            Ok(v)
        }

        fn err(&self, want: &str) -> String {
            match self.b.get(self.i) {
                Some(&c) => format!("JSON: expected {} at offset {}, found {:?}", want, self.i, c as char),
                None => format!("JSON: expected {} at offset {}, found the end", want, self.i),
            }
        }

        /// The next byte after white space, not consumed.
        fn peek(&mut self) -> Option<u8> {
            while let Some(&c) = self.b.get(self.i) {
                if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                    return Some(c);
                }
                self.i += 1;
            }
            None
        }

        fn eat(&mut self, c: u8, what: &str) -> Result<(), String> {
            if self.peek() != Some(c) {
                return Err(self.err(what));
            }
            self.i += 1;
            Ok(())
        }

        fn literal(&mut self, word: &str) -> bool {
            if self.peek().is_some() && self.b[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                return true;
            }
            false
        }

        /// Reads an object (or null), calling `f` with each key; `f` must
        /// read the value.
        pub fn object(&mut self, mut f: impl FnMut(&str, &mut Reader<'a>) -> Result<(), String>) -> Result<(), String> {
            if self.literal("null") {
                return Ok(());
            }
            self.eat(b'{', "an object")?;
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(());
            }
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.err("a key"));
                }
                let key = self.string()?;
                self.eat(b':', "':'")?;
                f(&key, self)?;
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        return Ok(());
                    }
                    _ => return Err(self.err("',' or '}'")),
                }
            }
        }

        /// Reads an object of strings (or null).
        pub fn map(&mut self) -> Result<Map, String> {
            let mut m = Map::new();
            self.object(|k, r| {
                let v = r.string()?;
                m.insert(k.to_string(), v);
                Ok(())
            })?;
            Ok(m)
        }

        /// Reads a boolean (null reads as false).
        pub fn boolean(&mut self) -> Result<bool, String> {
            if self.literal("true") {
                Ok(true)
            } else if self.literal("false") || self.literal("null") {
                Ok(false)
            } else {
                Err(self.err("a boolean"))
            }
        }

        /// Reads an integer (null reads as 0).
        pub fn int(&mut self) -> Result<i64, String> {
            if self.literal("null") {
                return Ok(0);
            }
            self.peek();
            let start = self.i;
            let neg = self.b.get(self.i) == Some(&b'-');
            if neg {
                self.i += 1;
            }
            let mut v: i64 = 0;
            let digits = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if !c.is_ascii_digit() {
                    break;
                }
                let d = (c - b'0') as i64;
                v = v
                    .checked_mul(10)
                    .and_then(|v| if neg { v.checked_sub(d) } else { v.checked_add(d) })
                    .ok_or_else(|| format!("JSON: integer at offset {} out of range", start))?;
                self.i += 1;
            }
            if self.i == digits {
                self.i = start;
                return Err(self.err("an integer"));
            }
            if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
                return Err(self.err("an integer, not a fraction"));
            }
            Ok(v)
        }

        /// Reads a string (null reads as empty), resolving escapes;
        /// invalid UTF-8 becomes U+FFFD, as in Go.
        pub fn string(&mut self) -> Result<String, String> {
            if self.literal("null") {
                return Ok(String::new());
            }
            self.eat(b'"', "a string")?;
            let mut out: Vec<u8> = Vec::new();
            loop {
                let start = self.i;
                while let Some(&c) = self.b.get(self.i) {
                    if c == b'"' || c == b'\\' || c < 0x20 {
                        break;
                    }
                    self.i += 1;
                }
                out.extend_from_slice(&self.b[start..self.i]);
                match self.b.get(self.i) {
                    Some(b'"') => {
                        self.i += 1;
                        return Ok(match String::from_utf8(out) {
                            Ok(s) => s,
                            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        });
                    }
                    Some(b'\\') => self.escape(&mut out)?,
                    _ => return Err(self.err("'\"' closing the string")),
                }
            }
        }

        /// Reads one escape (at `\`) into `out`.
        fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
            let c = match self.b.get(self.i + 1) {
                Some(&c) => c,
                None => return Err(self.err("an escape")),
            };
            self.i += 2;
            let simple = match c {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => 0,
                _ => {
                    self.i -= 1;
                    return Err(self.err("an escape"));
                }
            };
            if c != b'u' {
                out.push(simple);
                return Ok(());
            }
            let mut cp = self.hex4()?;
            if (0xD800..0xDC00).contains(&cp) && self.b[self.i..].starts_with(b"\\u") {
                let save = self.i;
                self.i += 2;
                let lo = self.hex4()?;
                if (0xDC00..0xE000).contains(&lo) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    self.i = save; // a lone high surrogate; the next escape stands alone
                }
            }
            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            Ok(())
        }

        fn hex4(&mut self) -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..4 {
                let d = match self.b.get(self.i).and_then(|&c| (c as char).to_digit(16)) {
                    Some(d) => d,
                    None => return Err(self.err("a hex digit")),
                };
                v = v << 4 | d;
                self.i += 1;
            }
            Ok(v)
        }

        /// Skips any one value.
        pub fn skip(&mut self) -> Result<(), String> {
            self.skip_depth(0)
        }

        fn skip_depth(&mut self, depth: u32) -> Result<(), String> {
            if depth > MAX_DEPTH {
                return Err(self.err("less nesting"));
            }
            match self.peek() {
                Some(b'{') => self.object(|_, r| r.skip_depth(depth + 1)),
                Some(b'[') => {
                    self.i += 1;
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        return Ok(());
                    }
                    loop {
                        self.skip_depth(depth + 1)?;
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(());
                            }
                            _ => return Err(self.err("',' or ']'")),
                        }
                    }
                }
                Some(b'"') => self.string().map(drop),
                Some(b't') | Some(b'f') => self.boolean().map(drop),
                Some(b'n') if self.literal("null") => Ok(()),
                Some(b'-') | Some(b'0'..=b'9') => {
                    while matches!(self.b.get(self.i), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
                        self.i += 1;
                    }
                    Ok(())
                }
                _ => Err(self.err("a value")),
            }
        }
    }

    /// Writes one JSON object, field by field.
    pub struct Writer {
        out: String,
        first: bool,
    }

    impl Default for Writer {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Writer {
        /// An empty writer.
        pub fn new() -> Self {
            Writer { out: String::new(), first: true }
        }
        /// The document written.
        pub fn finish(self) -> String {
            self.out
        }
        /// Opens an object.
        pub fn begin(&mut self) {
            self.out.push('{');
            self.first = true;
        }
        /// Closes the object.
        pub fn end(&mut self) {
            self.out.push('}');
            self.first = false;
        }
        fn key(&mut self, k: &str) {
            if !self.first {
                self.out.push(',');
            }
            self.first = false;
            quote(&mut self.out, k);
            self.out.push(':');
        }
        /// Writes a string field; left out when empty and `omit`.
        pub fn str(&mut self, k: &str, v: &str, omit: bool) {
            if !(omit && v.is_empty()) {
                self.key(k);
                quote(&mut self.out, v);
            }
        }
        /// Writes an integer field; left out when 0 and `omit`.
        pub fn int(&mut self, k: &str, v: i64, omit: bool) {
            if !(omit && v == 0) {
                self.key(k);
                self.out.push_str(&v.to_string());
            }
        }
        /// Writes a boolean field.
        pub fn boolean(&mut self, k: &str, v: bool) {
            self.key(k);
            self.out.push_str(if v { "true" } else { "false" });
        }
        /// Writes an object of strings; left out when empty.
        pub fn map(&mut self, k: &str, m: &Map) {
            if m.is_empty() {
                return;
            }
            self.key(k);
            self.begin();
            for (name, v) in m {
                self.str(name, v, false);
            }
            self.end();
        }
        /// Writes bytes as base64; left out when empty.
        pub fn bytes(&mut self, k: &str, v: &[u8]) {
            if !v.is_empty() {
                self.key(k);
                self.out.push('"');
                super::json::base64_encode_into(&mut self.out, v);
                self.out.push('"');
            }
        }
    }

    /// Appends `s` as a JSON string: `"` and `\` escaped, control
    /// characters as `\n`, `\r`, `\t` or `\u00XX`, the rest as UTF-8.
    pub fn quote(out: &mut String, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push('"');
        let mut start = 0;
        for (i, &c) in s.as_bytes().iter().enumerate() {
            let esc: &str = match c {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            out.push_str(&s[start..i]);
            start = i + 1;
            if esc.is_empty() {
                out.push_str("\\u00");
                out.push(HEX[(c >> 4) as usize] as char);
                out.push(HEX[(c & 15) as usize] as char);
            } else {
                out.push_str(esc);
            }
        }
        out.push_str(&s[start..]);
        out.push('"');
    }

    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Appends standard base64 (with padding) of `b` to `out`.
    pub fn base64_encode_into(out: &mut String, b: &[u8]) {
        let mut v = Vec::with_capacity((b.len() + 2) / 3 * 4);
        let mut chunks = b.chunks_exact(3);
        for c in &mut chunks {
            let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
            v.extend_from_slice(&[
                B64[(n >> 18) as usize],
                B64[(n >> 12 & 63) as usize],
                B64[(n >> 6 & 63) as usize],
                B64[(n & 63) as usize],
            ]);
        }
        match *chunks.remainder() {
            [a] => v.extend_from_slice(&[B64[(a >> 2) as usize], B64[((a & 3) << 4) as usize], b'=', b'=']),
            [a, b] => v.extend_from_slice(&[
                B64[(a >> 2) as usize],
                B64[((a & 3) << 4 | b >> 4) as usize],
                B64[((b & 15) << 2) as usize],
                b'=',
            ]),
            _ => {}
        }
        // Safety of from_utf8: every byte is ASCII.
        out.push_str(std::str::from_utf8(&v).unwrap_or(""));
    }

    /// Decodes standard base64 with padding (as Go's encoding/json writes
    /// byte fields); `\r` and `\n` are ignored, as Go does.
    pub fn base64_decode(s: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(s.len() / 4 * 3);
        let (mut acc, mut n, mut pad) = (0u32, 0u32, 0u32);
        for (i, &c) in s.iter().enumerate() {
            let d = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'\r' | b'\n' => continue,
                b'=' if n >= 2 => {
                    pad += 1;
                    n += 1;
                    acc <<= 6;
                    if n == 4 {
                        flush(&mut out, acc, pad);
                        n = 0;
                    }
                    continue;
                }
                _ => return Err(format!("base64: illegal byte {:?} at offset {}", c as char, i)),
            };
            if pad > 0 {
                return Err(format!("base64: data after padding at offset {}", i));
            }
            acc = acc << 6 | d as u32;
            n += 1;
            if n == 4 {
                flush(&mut out, acc, 0);
                acc = 0;
                n = 0;
            }
        }
        if n != 0 {
            return Err("base64: input is not a multiple of 4 characters (missing padding?)".to_string());
        }
        Ok(out)
    }

    fn flush(out: &mut Vec<u8>, acc: u32, pad: u32) {
        let b = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&b[..3 - pad as usize]);
    }
}
