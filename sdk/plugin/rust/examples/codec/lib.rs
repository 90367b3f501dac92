//! xor: an example Mesh codec. It XORs every byte with a key byte (config
//! `key`, decimal `90` or hex `0x5a`, default 0x5a), so encoding twice gives
//! the input back. Not encryption: an example of the Rust kit.
//!
//! Build: `./build.sh . xor.wasm` (or `cargo build --offline --release
//! --target wasm32-unknown-unknown`).

mod mesh_plugin;

use mesh_plugin::{CodecResult, Map, Output};

/// The byte every payload byte is XORed with.
static mut KEY: u8 = 0x5a;

fn key() -> u8 {
    // Safety: wasm instances are single-threaded.
    unsafe { KEY }
}

/// Reads the optional `key`, as Go's strconv.ParseUint(s, 0, 8) does.
fn configure(cfg: &Map) -> Result<(), String> {
    if let Some(s) = cfg.get("key") {
        match parse_byte(s) {
            Some(k) => unsafe { KEY = k },
            None => return Err(format!("xor: key must be a byte (0-255), got {}", go_quote(s))),
        }
    }
    Ok(())
}

/// XORs the input with the key; with key 0 it returns the input itself,
/// the identity without a copy.
fn xor(input: &[u8]) -> CodecResult<'_> {
    let k = key();
    if k == 0 {
        return Ok(Output::Borrowed(input));
    }
    // One pass over the input into a new vector, 32 bytes per iteration as
    // four u64 words, without calls to memcpy or memset: the host bounds
    // every call, and a bounded guest pays a check on each loop iteration.
    let wide = u64::from_ne_bytes([k; 8]);
    let n = input.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (src, dst) = (input.as_ptr(), out.as_mut_ptr());
    let mut i = 0;
    // Safety: i + 32 <= n, and both buffers hold n bytes.
    unsafe {
        while i + 32 <= n {
            let w = [0, 8, 16, 24].map(|j| (src.add(i + j) as *const u64).read_unaligned() ^ wide);
            for (j, v) in w.iter().enumerate() {
                (dst.add(i + 8 * j) as *mut u64).write_unaligned(*v);
            }
            i += 32;
        }
        while i < n {
            *dst.add(i) = *src.add(i) ^ k;
            i += 1;
        }
        out.set_len(n);
    }
    Ok(Output::Owned(out))
}

mesh_plugin::codec!(xor, xor, configure);

/// Parses a byte like Go's strconv.ParseUint(s, 0, 8): a `0x`, `0o` or `0b`
/// prefix, a leading `0` for octal, `_` between digits.
fn parse_byte(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    let (base, digits) = match b {
        [b'0', p, _, ..] if p.to_ascii_lowercase() == b'x' => (16, &b[2..]),
        [b'0', p, _, ..] if p.to_ascii_lowercase() == b'o' => (8, &b[2..]),
        [b'0', p, _, ..] if p.to_ascii_lowercase() == b'b' => (2, &b[2..]),
        [b'0', ..] => (8, &b[1..]),
        [] => return None,
        _ => (10, b),
    };
    if !underscores_ok(b) {
        return None;
    }
    let mut v: u32 = 0;
    for &c in digits {
        if c == b'_' {
            continue;
        }
        let d = (c as char).to_digit(base)?;
        v = v * base + d;
        if v > 255 {
            return None;
        }
    }
    Some(v as u8)
}

/// Go's rule for `_` in a number: only between digits, or after a prefix.
fn underscores_ok(b: &[u8]) -> bool {
    let (mut saw, mut i, mut hex) = (b'^', 0, false);
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].to_ascii_lowercase() == b'x';
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Quotes `s` as Go's %q does for the common cases.
fn go_quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            '\u{7}' => q.push_str("\\a"),
            '\u{8}' => q.push_str("\\b"),
            '\u{c}' => q.push_str("\\f"),
            '\u{b}' => q.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => q.push_str(&format!("\\x{:02x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}
