/*
 * mesh_plugin.h — the C kit for Mesh plugins (codec, auth policy, route handler).
 *
 * Header-only. Include it in exactly ONE .c file of the plugin, after defining
 * the plugin's kind:
 *
 *     #define MESH_CODEC              (raw codec ABI, wit/ABI.md §2)
 *     #define MESH_CODEC_CONFIGURE    (optional, with MESH_CODEC: you define codec_configure)
 *     #define MESH_AUTH               (Extism auth policy, ABI.md §3-4)
 *     #define MESH_ROUTE              (Extism route handler, ABI.md §3, §5)
 *     #include "mesh_plugin.h"
 *
 * Build for clang --target=wasm32-unknown-unknown -nostdlib -mbulk-memory -O2
 * -Wl,--no-entry (see build.sh). No libc is needed: the kit provides memcpy,
 * memmove, memset and memcmp, which clang may call (define MESH_NO_MEMFUNCS
 * when a libc provides them).
 *
 * Memory: one bump allocator over the linear memory above __heap_base, grown
 * with memory.grow as needed (a failed grow traps). It is reset at the start of
 * every call from the host (mesh_alloc for codecs, authorize/handle for the
 * Extism kinds), so nothing leaks from call to call and nothing needs freeing;
 * everything the kit hands out is valid until the next call into the instance.
 * A codec must not keep pointers into it across calls (copy configuration).
 *
 * Imports: a codec imports at most wasi_snapshot_preview1.random_get (only
 * when it calls mesh_random); auth and route import extism:host/env.
 */
#ifndef MESH_PLUGIN_H
#define MESH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#if (defined(MESH_CODEC) + defined(MESH_AUTH) + defined(MESH_ROUTE)) != 1
#error "mesh_plugin.h: define exactly one of MESH_CODEC, MESH_AUTH, MESH_ROUTE before including it"
#endif

/* ======================================================================
 * 1. Common: types, attributes, memory functions
 * ====================================================================== */

/* MESH_FN marks the kit's helpers: static, and no warning when unused. */
#define MESH_FN static __attribute__((unused))
/* MESH_EXPORT(name) exports the function that follows as `name`. */
#define MESH_EXPORT(name) __attribute__((export_name(name), visibility("default")))
/* MESH_IMPORT(mod, name) imports the declared function from module mod. */
#define MESH_IMPORT(mod, name) __attribute__((import_module(mod), import_name(name)))

/* mesh_bytes is a byte slice (not NUL-terminated). */
typedef struct { uint8_t *ptr; uint32_t len; } mesh_bytes;

/* mesh_result is a packed result (ABI.md §2.2): ptr<<32 | len, bit 63 = error. */
typedef int64_t mesh_result;

#ifndef MESH_NO_MEMFUNCS /* define it when linking a libc that has them */
/* memcpy copies n bytes (memory.copy with -mbulk-memory). */
void *memcpy(void *dst, const void *src, size_t n) {
	__builtin_memcpy(dst, src, n);
	return dst;
}

/* memmove copies n possibly overlapping bytes. */
void *memmove(void *dst, const void *src, size_t n) {
	__builtin_memmove(dst, src, n);
	return dst;
}

/* memset fills n bytes with c (memory.fill with -mbulk-memory). */
void *memset(void *dst, int c, size_t n) {
	__builtin_memset(dst, c, n);
	return dst;
}

/* memcmp compares n bytes. */
int memcmp(const void *a, const void *b, size_t n) {
	const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
	return 0;
}
#endif

/* mesh_strlen is the length of a NUL-terminated string. */
MESH_FN inline uint32_t mesh_strlen(const char *s) {
	uint32_t n = 0;
	while (s[n]) n++;
	return n;
}

/* mesh_str makes a slice of a NUL-terminated string (no copy). */
MESH_FN inline mesh_bytes mesh_str(const char *s) {
	mesh_bytes b = {(uint8_t *)s, mesh_strlen(s)};
	return b;
}

/* mesh_eq reports whether slice b holds exactly the NUL-terminated string s. */
MESH_FN inline int mesh_eq(mesh_bytes b, const char *s) {
	uint32_t n = mesh_strlen(s);
	return b.len == n && (n == 0 || memcmp(b.ptr, s, n) == 0);
}

/* mesh_bytes_eq reports whether a and b hold the same bytes. */
MESH_FN inline int mesh_bytes_eq(mesh_bytes a, mesh_bytes b) {
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ======================================================================
 * 2. Allocator: a bump allocator reset per host call
 * ====================================================================== */

extern uint8_t __heap_base;   /* provided by wasm-ld: the first free byte */
static uintptr_t mesh_heap_top; /* the next free byte; 0 before the first use */

/* mesh_heap_reset frees everything allocated so far (the kit calls it at the
 * start of each host call). */
MESH_FN inline void mesh_heap_reset(void) { mesh_heap_top = (uintptr_t)&__heap_base; }

/* mesh_heap_grow moves the top of the heap to end, growing memory as
 * needed; it traps when memory cannot grow (the host's cap, ABI.md §2.6). */
MESH_FN void mesh_heap_grow(uint64_t end) {
	uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) << 16;
	if (end > have) {
		uint64_t pages = (end - have + 0xffff) >> 16;
		if (end > 0x80000000ull || __builtin_wasm_memory_grow(0, (uintptr_t)pages) == (uintptr_t)-1)
			__builtin_trap();
	}
	mesh_heap_top = (uintptr_t)end;
}

/* mesh_malloc returns n bytes (16-byte aligned), valid until the next host
 * call; it traps when memory cannot grow. */
MESH_FN void *mesh_malloc(uint32_t n) {
	if (mesh_heap_top == 0) mesh_heap_reset();
	uintptr_t p = (mesh_heap_top + 15) & ~(uintptr_t)15;
	mesh_heap_grow((uint64_t)p + n);
	return (void *)p;
}

/* mesh_dup copies n bytes into a fresh allocation. */
MESH_FN inline mesh_bytes mesh_dup(const void *src, uint32_t n) {
	mesh_bytes b = {(uint8_t *)mesh_malloc(n), n};
	if (n) memcpy(b.ptr, src, n);
	return b;
}

/* ======================================================================
 * 3. Config: a parsed JSON object of strings
 * ====================================================================== */

/* mesh_config is the plugin's configuration, key/value pairs. For a codec it
 * is parsed from mesh_configure's input; for auth/route it reads Extism
 * config (see mesh_config_get). */
typedef struct mesh_config mesh_config;

/* mesh_config_get sets *value to the value of key and returns 1 when key is
 * set, else returns 0. The value is valid until the next host call. Defined
 * per kind below. */
MESH_FN int mesh_config_get(const mesh_config *cfg, const char *key, mesh_bytes *value);

/* ======================================================================
 * 4. JSON reader (input documents; never reads out of bounds)
 * ====================================================================== */

/* mesh_json is a read cursor over a JSON text. A malformed text sets err;
 * every read after that returns empty values. */
typedef struct { const uint8_t *p, *end; int err; } mesh_json;

/* mesh_json_ws skips white space. */
MESH_FN void mesh_json_ws(mesh_json *j) {
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

/* mesh_json_eat consumes the character c (after white space) and returns 1,
 * or returns 0 and consumes nothing. */
MESH_FN int mesh_json_eat(mesh_json *j, uint8_t c) {
	mesh_json_ws(j);
	if (j->p < j->end && *j->p == c) { j->p++; return 1; }
	return 0;
}

/* mesh_json_hex4 reads 4 hex digits at q (q+4 <= end is checked by the caller). */
MESH_FN int32_t mesh_json_hex4(const uint8_t *q) {
	int32_t v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = q[i];
		int d = c >= '0' && c <= '9' ? c - '0' : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1;
		if (d < 0) return -1;
		v = v << 4 | d;
	}
	return v;
}

/* mesh_utf8_put writes code point r as UTF-8 at d and returns the bytes written. */
MESH_FN uint32_t mesh_utf8_put(uint8_t *d, uint32_t r) {
	if (r < 0x80) { d[0] = (uint8_t)r; return 1; }
	if (r < 0x800) { d[0] = (uint8_t)(0xc0 | r >> 6); d[1] = (uint8_t)(0x80 | (r & 63)); return 2; }
	if (r < 0x10000) {
		d[0] = (uint8_t)(0xe0 | r >> 12); d[1] = (uint8_t)(0x80 | (r >> 6 & 63)); d[2] = (uint8_t)(0x80 | (r & 63));
		return 3;
	}
	d[0] = (uint8_t)(0xf0 | r >> 18); d[1] = (uint8_t)(0x80 | (r >> 12 & 63));
	d[2] = (uint8_t)(0x80 | (r >> 6 & 63)); d[3] = (uint8_t)(0x80 | (r & 63));
	return 4;
}

/* mesh_json_string reads a JSON string and returns its decoded bytes (escapes
 * resolved, \uXXXX and surrogate pairs as UTF-8; a lone surrogate becomes
 * U+FFFD, as Go does). Without escapes it returns a slice of the input. */
MESH_FN mesh_bytes mesh_json_string(mesh_json *j) {
	mesh_bytes out = {0, 0};
	if (j->err || !mesh_json_eat(j, '"')) { j->err = 1; return out; }
	const uint8_t *s = j->p;
	int esc = 0;
	while (j->p < j->end && *j->p != '"') {
		if (*j->p == '\\') { esc = 1; if (++j->p == j->end) break; }
		j->p++;
	}
	if (j->p >= j->end) { j->err = 1; return out; }
	uint32_t n = (uint32_t)(j->p - s);
	j->p++; /* the closing quote */
	if (!esc) { out.ptr = (uint8_t *)s; out.len = n; return out; }
	uint8_t *d = (uint8_t *)mesh_malloc(n); /* decoding never grows the text */
	uint32_t k = 0;
	for (const uint8_t *q = s, *e = s + n; q < e;) {
		if (*q != '\\') { d[k++] = *q++; continue; }
		q++;
		uint8_t c = *q++;
		switch (c) {
		case 'b': d[k++] = '\b'; break;
		case 'f': d[k++] = '\f'; break;
		case 'n': d[k++] = '\n'; break;
		case 'r': d[k++] = '\r'; break;
		case 't': d[k++] = '\t'; break;
		case 'u': {
			int32_t r = e - q >= 4 ? mesh_json_hex4(q) : -1;
			if (r < 0) { j->err = 1; return out; }
			q += 4;
			if (r >= 0xd800 && r < 0xdc00 && e - q >= 6 && q[0] == '\\' && q[1] == 'u') {
				int32_t lo = mesh_json_hex4(q + 2);
				if (lo >= 0xdc00 && lo < 0xe000) { r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00); q += 6; }
			}
			if (r >= 0xd800 && r < 0xe000) r = 0xfffd;
			k += mesh_utf8_put(d + k, (uint32_t)r);
			break;
		}
		default: d[k++] = c; break; /* \" \\ \/ */
		}
	}
	out.ptr = d; out.len = k;
	return out;
}

/* mesh_json_digits consumes one or more digits; none is an error (0). */
MESH_FN int mesh_json_digits(mesh_json *j) {
	const uint8_t *s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
	if (j->p == s) j->err = 1;
	return !j->err;
}

/* mesh_json_skip skips one JSON value of any type (depth-limited). */
MESH_FN void mesh_json_skip(mesh_json *j, int depth) {
	if (j->err) return;
	mesh_json_ws(j);
	if (j->p >= j->end || depth > 64) { j->err = 1; return; }
	uint8_t c = *j->p;
	if (c == '"') { mesh_json_string(j); return; }
	if (c == '{' || c == '[') {
		uint8_t close = c == '{' ? '}' : ']';
		j->p++;
		if (mesh_json_eat(j, close)) return;
		do {
			if (c == '{') { mesh_json_string(j); if (!mesh_json_eat(j, ':')) j->err = 1; }
			mesh_json_skip(j, depth + 1);
		} while (!j->err && mesh_json_eat(j, ','));
		if (!mesh_json_eat(j, close)) j->err = 1;
		return;
	}
	/* true, false, null, or a number -?D+(.D+)?([eE][+-]?D+)? */
	static const char *const lits[] = {"true", "false", "null"};
	for (int i = 0; i < 3; i++) {
		uint32_t n = mesh_strlen(lits[i]);
		if (c == (uint8_t)lits[i][0]) {
			if ((uint32_t)(j->end - j->p) < n || memcmp(j->p, lits[i], n) != 0) j->err = 1;
			else j->p += n;
			return;
		}
	}
	if (*j->p == '-') j->p++;
	if (!mesh_json_digits(j)) return;
	if (j->p < j->end && *j->p == '.') { j->p++; if (!mesh_json_digits(j)) return; }
	if (j->p < j->end && (*j->p | 32) == 'e') {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
		mesh_json_digits(j);
	}
}

/* mesh_json_object_next reads the next member's key of an object: call it
 * with *first = 1 at the '{'; it returns 1 with *key set (the cursor then at
 * the value), or 0 at the end of the object (or on error). */
MESH_FN int mesh_json_object_next(mesh_json *j, int *first, mesh_bytes *key) {
	if (j->err) return 0;
	if (*first) {
		*first = 0;
		if (!mesh_json_eat(j, '{')) { j->err = 1; return 0; }
		if (mesh_json_eat(j, '}')) return 0;
	} else if (!mesh_json_eat(j, ',')) {
		if (!mesh_json_eat(j, '}')) j->err = 1;
		return 0;
	}
	*key = mesh_json_string(j);
	if (!mesh_json_eat(j, ':')) j->err = 1;
	return !j->err;
}

/* mesh_pair is one name/value pair (a config entry or a header). */
typedef struct { mesh_bytes name, value; } mesh_pair;

/* mesh_pairs is an array of name/value pairs (zero value: empty). */
typedef struct { mesh_pair *items; uint32_t len, cap; } mesh_pairs;

/* mesh_pairs_add appends a pair (the slices are not copied). */
MESH_FN void mesh_pairs_add(mesh_pairs *ps, mesh_bytes name, mesh_bytes value) {
	if (ps->len == ps->cap) { /* grow: copy to a doubled array (bump memory) */
		ps->cap = ps->cap ? ps->cap * 2 : 8;
		mesh_pair *n = (mesh_pair *)mesh_malloc(ps->cap * (uint32_t)sizeof(mesh_pair));
		if (ps->len) memcpy(n, ps->items, ps->len * sizeof(mesh_pair));
		ps->items = n;
	}
	ps->items[ps->len].name = name;
	ps->items[ps->len].value = value;
	ps->len++;
}

/* mesh_json_pairs reads a JSON object of strings into pairs (a member whose
 * value is not a string is skipped). */
MESH_FN mesh_pairs mesh_json_pairs(mesh_json *j) {
	mesh_pairs ps = {0, 0, 0};
	int first = 1;
	mesh_bytes key;
	while (mesh_json_object_next(j, &first, &key)) {
		mesh_json_ws(j);
		if (j->p >= j->end || *j->p != '"') { mesh_json_skip(j, 1); continue; }
		mesh_bytes v = mesh_json_string(j);
		if (!j->err) mesh_pairs_add(&ps, key, v);
	}
	return ps;
}

/* mesh_pairs_get finds name in ps: 1 and *value when present, else 0. */
MESH_FN int mesh_pairs_get(const mesh_pairs *ps, const char *name, mesh_bytes *value) {
	for (uint32_t i = 0; i < ps->len; i++)
		if (mesh_eq(ps->items[i].name, name)) { if (value) *value = ps->items[i].value; return 1; }
	return 0;
}

/* ======================================================================
 * 5. Codecs: the raw ABI (ABI.md §2)
 * ====================================================================== */
#ifdef MESH_CODEC

/* mesh_config of a codec: the pairs of mesh_configure's JSON object. */
struct mesh_config { mesh_pairs pairs; };

/* mesh_config_get looks key up in the parsed configuration (see section 3). */
MESH_FN int mesh_config_get(const mesh_config *cfg, const char *key, mesh_bytes *value) {
	return mesh_pairs_get(&cfg->pairs, key, value);
}

/* The author defines these: */
mesh_result codec_encode(mesh_bytes in);  /* encode in; return mesh_ok or mesh_fail */
mesh_result codec_decode(mesh_bytes in);  /* decode in; return mesh_ok or mesh_fail */
#ifdef MESH_CODEC_CONFIGURE
mesh_result codec_configure(const mesh_config *cfg); /* 0 (or mesh_ok) to accept, mesh_fail to refuse */
#endif

/* mesh_output returns n writable bytes for this call's output, valid until
 * the next call into the instance; traps when memory cannot grow. */
MESH_FN inline mesh_bytes mesh_output(uint32_t n) {
	mesh_bytes b = {(uint8_t *)mesh_malloc(n), n};
	return b;
}

/* mesh_ok succeeds with out: a slice of mesh_output's buffer or of the input. */
MESH_FN inline mesh_result mesh_ok(mesh_bytes out) {
	return (mesh_result)((uint64_t)(uintptr_t)out.ptr << 32 | out.len);
}

/* mesh_fail_bytes fails with the message msg (not copied: it must stay valid
 * until the next call, e.g. a mesh_output buffer or a string constant). */
MESH_FN inline mesh_result mesh_fail_bytes(mesh_bytes msg) {
	return (mesh_result)(1ull << 63 | (uint64_t)(uintptr_t)msg.ptr << 32 | msg.len);
}

/* mesh_fail2 fails with msg followed by detail_len bytes of detail (copied). */
MESH_FN mesh_result mesh_fail2(const char *msg, const char *detail, uint32_t detail_len) {
	uint32_t n = mesh_strlen(msg);
	mesh_bytes b = mesh_output(n + detail_len);
	memcpy(b.ptr, msg, n);
	if (detail_len) memcpy(b.ptr + n, detail, detail_len);
	return mesh_fail_bytes(b);
}

/* mesh_fail fails with a NUL-terminated message (copied). */
MESH_FN inline mesh_result mesh_fail(const char *msg) { return mesh_fail2(msg, "", 0); }

/* WASI random_get: imported only when mesh_random is called. */
MESH_IMPORT("wasi_snapshot_preview1", "random_get")
int32_t mesh_wasi_random_get(uint8_t *buf, uint32_t len);

/* mesh_random fills buf with n bytes from the host's CSPRNG; traps on failure. */
MESH_FN inline void mesh_random(void *buf, uint32_t n) {
	if (n && mesh_wasi_random_get((uint8_t *)buf, n) != 0) __builtin_trap();
}

/* mesh_alloc (export): n writable bytes for the next call's input. Resets the
 * heap: the previous call's output is no longer needed (ABI.md §2.3). */
MESH_EXPORT("mesh_alloc") uint32_t mesh_alloc(uint32_t n) {
	mesh_heap_reset();
	return (uint32_t)(uintptr_t)mesh_malloc(n);
}

/* encode (export): the host's entry to codec_encode. */
MESH_EXPORT("encode") mesh_result mesh_encode(uint8_t *ptr, uint32_t len) {
	mesh_bytes in = {ptr, len};
	return codec_encode(in);
}

/* decode (export): the host's entry to codec_decode. */
MESH_EXPORT("decode") mesh_result mesh_decode(uint8_t *ptr, uint32_t len) {
	mesh_bytes in = {ptr, len};
	return codec_decode(in);
}

#ifdef MESH_CODEC_CONFIGURE
/* mesh_configure (export): parses the JSON object of strings and calls
 * codec_configure; a malformed document fails with a message. */
MESH_EXPORT("mesh_configure") mesh_result mesh_configure(uint8_t *ptr, uint32_t len) {
	mesh_json j = {ptr, ptr + len, 0};
	mesh_config cfg;
	cfg.pairs = mesh_json_pairs(&j);
	if (j.err) return mesh_fail("mesh_configure: the configuration is not a JSON object of strings");
	mesh_result r = codec_configure(&cfg);
	return r < 0 ? r : 0;
}
#endif

#endif /* MESH_CODEC */

/* ======================================================================
 * 6. Growing buffer and JSON writer (output documents, messages)
 * ====================================================================== */
#if defined(MESH_AUTH) || defined(MESH_ROUTE)

/* mesh_buf is a growing byte buffer in bump memory (zero value: empty). */
typedef struct { uint8_t *ptr; uint32_t len, cap; } mesh_buf;

/* mesh_buf_room makes room for n more bytes and returns where they go; the
 * last allocation grows in place. */
MESH_FN uint8_t *mesh_buf_room(mesh_buf *b, uint32_t n) {
	if (b->cap - b->len < n) {
		uint32_t want = b->len + n;
		if (b->ptr && (uintptr_t)(b->ptr + b->cap) == mesh_heap_top) {
			mesh_heap_grow((uint64_t)mesh_heap_top + (want - b->cap)); /* the block just extends */
			b->cap = want;
		} else {
			uint32_t cap = want < 256 ? 256 : want + want / 2;
			uint8_t *np = (uint8_t *)mesh_malloc(cap);
			if (b->len) memcpy(np, b->ptr, b->len);
			b->ptr = np;
			b->cap = cap;
		}
	}
	uint8_t *d = b->ptr + b->len;
	b->len += n;
	return d;
}

/* mesh_buf_put appends n bytes. */
MESH_FN inline void mesh_buf_put(mesh_buf *b, const void *p, uint32_t n) {
	if (n) memcpy(mesh_buf_room(b, n), p, n);
}

/* mesh_buf_bytes appends a slice; mesh_buf_str a NUL-terminated string. */
MESH_FN inline void mesh_buf_bytes(mesh_buf *b, mesh_bytes s) { mesh_buf_put(b, s.ptr, s.len); }
MESH_FN inline void mesh_buf_str(mesh_buf *b, const char *s) { mesh_buf_put(b, s, mesh_strlen(s)); }

/* mesh_buf_slice is the buffer's contents as a slice. */
MESH_FN inline mesh_bytes mesh_buf_slice(const mesh_buf *b) {
	mesh_bytes s = {b->ptr, b->len};
	return s;
}

/* mesh_buf_int appends v in decimal. */
MESH_FN void mesh_buf_int(mesh_buf *b, int64_t v) {
	uint8_t t[24];
	int i = 24;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do { t[--i] = (uint8_t)('0' + u % 10); u /= 10; } while (u);
	if (v < 0) t[--i] = '-';
	mesh_buf_put(b, t + i, (uint32_t)(24 - i));
}

/* mesh_utf8_valid is the length of the valid UTF-8 sequence at p (n bytes
 * left), or 0. */
MESH_FN uint32_t mesh_utf8_valid(const uint8_t *p, uint32_t n) {
	uint8_t c = p[0];
	uint32_t len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
	if (len == 0 || len > n) return 0;
	for (uint32_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80) return 0;
	if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))) return 0; /* overlong, surrogate */
	if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
	return len;
}

/* mesh_json_put_string appends s as a JSON string: ", \ and control
 * characters escaped (\n \r \t \b \f, else \u00XX), valid UTF-8 passed
 * through, each invalid byte written as \ufffd (as Go's encoder does). */
MESH_FN void mesh_json_put_string(mesh_buf *b, mesh_bytes s) {
	static const char hex[] = "0123456789abcdef";
	mesh_buf_put(b, "\"", 1);
	uint32_t run = 0; /* bytes at s.ptr[i-run, i) still to copy */
	for (uint32_t i = 0; i < s.len;) {
		uint8_t c = s.ptr[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) { i++; run++; continue; }
		uint32_t n = c >= 0x80 ? mesh_utf8_valid(s.ptr + i, s.len - i) : 0;
		if (n) { i += n; run += n; continue; }
		mesh_buf_put(b, s.ptr + i - run, run);
		run = 0;
		const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r" :
		                c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : 0;
		if (e) mesh_buf_put(b, e, 2);
		else if (c >= 0x80) mesh_buf_put(b, "\\ufffd", 6);
		else { uint8_t u[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]}; mesh_buf_put(b, u, 6); }
		i++;
	}
	mesh_buf_put(b, s.ptr + s.len - run, run);
	mesh_buf_put(b, "\"", 1);
}

/* mesh_json_put_key appends ,"name": (the comma unless *first). */
MESH_FN void mesh_json_put_key(mesh_buf *b, int *first, const char *name) {
	if (!*first) mesh_buf_put(b, ",", 1);
	*first = 0;
	mesh_json_put_string(b, mesh_str(name));
	mesh_buf_put(b, ":", 1);
}

/* mesh_json_put_pairs appends ,"name":{...} unless ps is empty. */
MESH_FN void mesh_json_put_pairs(mesh_buf *b, int *first, const char *name, const mesh_pairs *ps) {
	if (ps->len == 0) return;
	mesh_json_put_key(b, first, name);
	mesh_buf_put(b, "{", 1);
	for (uint32_t i = 0; i < ps->len; i++) {
		if (i) mesh_buf_put(b, ",", 1);
		mesh_json_put_string(b, ps->items[i].name);
		mesh_buf_put(b, ":", 1);
		mesh_json_put_string(b, ps->items[i].value);
	}
	mesh_buf_put(b, "}", 1);
}

/* mesh_json_put_str appends ,"name":"value" unless value is empty. */
MESH_FN void mesh_json_put_str(mesh_buf *b, int *first, const char *name, mesh_bytes value) {
	if (value.len == 0) return;
	mesh_json_put_key(b, first, name);
	mesh_json_put_string(b, value);
}

/* mesh_json_put_base64 appends ,"name":"BASE64" (standard, padded) unless
 * v is empty. */
MESH_FN void mesh_json_put_base64(mesh_buf *b, int *first, const char *name, mesh_bytes v) {
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (v.len == 0) return;
	mesh_json_put_key(b, first, name);
	uint8_t *d = mesh_buf_room(b, (v.len + 2) / 3 * 4 + 2);
	*d++ = '"';
	uint32_t i = 0;
	for (; i + 3 <= v.len; i += 3) {
		uint32_t x = (uint32_t)v.ptr[i] << 16 | (uint32_t)v.ptr[i + 1] << 8 | v.ptr[i + 2];
		d[0] = (uint8_t)a[x >> 18]; d[1] = (uint8_t)a[x >> 12 & 63]; d[2] = (uint8_t)a[x >> 6 & 63]; d[3] = (uint8_t)a[x & 63];
		d += 4;
	}
	if (i < v.len) {
		uint32_t x = (uint32_t)v.ptr[i] << 16 | (i + 1 < v.len ? (uint32_t)v.ptr[i + 1] << 8 : 0);
		d[0] = (uint8_t)a[x >> 18]; d[1] = (uint8_t)a[x >> 12 & 63];
		d[2] = i + 1 < v.len ? (uint8_t)a[x >> 6 & 63] : '='; d[3] = '=';
		d += 4;
	}
	*d = '"';
}

/* mesh_json_int reads a JSON number as an integer (a fraction or exponent
 * is checked and dropped). */
MESH_FN int64_t mesh_json_int(mesh_json *j) {
	mesh_json_ws(j);
	const uint8_t *s = j->p;
	int neg = j->p < j->end && *j->p == '-';
	uint64_t v = 0;
	for (const uint8_t *q = s + neg; q < j->end && *q >= '0' && *q <= '9'; q++) v = v * 10 + (uint64_t)(*q - '0');
	mesh_json_skip(j, 0); /* validates the whole number */
	if (j->err || !(*s == '-' || (*s >= '0' && *s <= '9'))) { j->err = 1; return 0; } /* no err: s < end */
	return neg ? -(int64_t)v : (int64_t)v;
}

/* mesh_base64_decode decodes standard base64 (padding optional) in place of
 * a fresh buffer; it returns 0 on a character outside the alphabet. */
MESH_FN int mesh_base64_decode(mesh_bytes s, mesh_bytes *out) {
	uint8_t *d = (uint8_t *)mesh_malloc(s.len / 4 * 3 + 3);
	uint32_t k = 0, acc = 0, bits = 0, i = 0;
	for (; i < s.len && s.ptr[i] != '='; i++) {
		uint8_t c = s.ptr[i];
		int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52 :
		        c == '+' ? 62 : c == '/' ? 63 : -1;
		if (v < 0) return 0;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) { bits -= 8; d[k++] = (uint8_t)(acc >> bits); }
	}
	for (; i < s.len; i++)
		if (s.ptr[i] != '=') return 0;
	out->ptr = d;
	out->len = k;
	return 1;
}

/* ======================================================================
 * 7. The Extism guest ABI (ABI.md §3): input, output, error, config, log
 * ====================================================================== */

/* The extism:host/env imports (offsets are in the Extism kernel's memory). */
#define MESH_EXTISM(name) MESH_IMPORT("extism:host/env", name)
MESH_EXTISM("input_length") uint64_t mesh_x_input_length(void);
MESH_EXTISM("input_load_u8") uint32_t mesh_x_input_load_u8(uint64_t off);
MESH_EXTISM("input_load_u64") uint64_t mesh_x_input_load_u64(uint64_t off);
MESH_EXTISM("alloc") uint64_t mesh_x_alloc(uint64_t n);
MESH_EXTISM("free") void mesh_x_free(uint64_t off);
MESH_EXTISM("length") uint64_t mesh_x_length(uint64_t off);
MESH_EXTISM("load_u8") uint32_t mesh_x_load_u8(uint64_t off);
MESH_EXTISM("load_u64") uint64_t mesh_x_load_u64(uint64_t off);
MESH_EXTISM("store_u8") void mesh_x_store_u8(uint64_t off, uint32_t v);
MESH_EXTISM("store_u64") void mesh_x_store_u64(uint64_t off, uint64_t v);
MESH_EXTISM("output_set") void mesh_x_output_set(uint64_t off, uint64_t n);
MESH_EXTISM("error_set") void mesh_x_error_set(uint64_t off);
MESH_EXTISM("config_get") uint64_t mesh_x_config_get(uint64_t off);
MESH_EXTISM("log_debug") void mesh_x_log_debug(uint64_t off);
MESH_EXTISM("log_info") void mesh_x_log_info(uint64_t off);
MESH_EXTISM("log_warn") void mesh_x_log_warn(uint64_t off);
MESH_EXTISM("log_error") void mesh_x_log_error(uint64_t off);

/* mesh_input returns the call's input, copied from the kernel's memory. */
MESH_FN mesh_bytes mesh_input(void) {
	uint32_t n = (uint32_t)mesh_x_input_length(), i = 0;
	mesh_bytes b = {(uint8_t *)mesh_malloc(n), n};
	for (; i + 8 <= n; i += 8) { uint64_t w = mesh_x_input_load_u64(i); memcpy(b.ptr + i, &w, 8); }
	for (; i < n; i++) b.ptr[i] = (uint8_t)mesh_x_input_load_u8(i);
	return b;
}

/* mesh_x_write copies s into a fresh block of the kernel's memory. */
MESH_FN uint64_t mesh_x_write(mesh_bytes s) {
	uint64_t off = mesh_x_alloc(s.len);
	uint32_t i = 0;
	for (; i + 8 <= s.len; i += 8) { uint64_t w; memcpy(&w, s.ptr + i, 8); mesh_x_store_u64(off + i, w); }
	for (; i < s.len; i++) mesh_x_store_u8(off + i, s.ptr[i]);
	return off;
}

/* mesh_x_read copies the kernel's block at off into guest memory. */
MESH_FN mesh_bytes mesh_x_read(uint64_t off) {
	uint32_t n = (uint32_t)mesh_x_length(off), i = 0;
	mesh_bytes b = {(uint8_t *)mesh_malloc(n), n};
	for (; i + 8 <= n; i += 8) { uint64_t w = mesh_x_load_u64(off + i); memcpy(b.ptr + i, &w, 8); }
	for (; i < n; i++) b.ptr[i] = (uint8_t)mesh_x_load_u8(off + i);
	return b;
}

/* mesh_output_set makes s the call's output. */
MESH_FN inline void mesh_output_set(mesh_bytes s) { mesh_x_output_set(mesh_x_write(s), s.len); }

static int mesh_error_was_set; /* whether the author set an error this call */

/* mesh_error_bytes sets the call's error message (return non-zero after). */
MESH_FN inline void mesh_error_bytes(mesh_bytes msg) { mesh_x_error_set(mesh_x_write(msg)); mesh_error_was_set = 1; }

/* mesh_error sets the call's error message from a NUL-terminated string. */
MESH_FN inline void mesh_error(const char *msg) { mesh_error_bytes(mesh_str(msg)); }

/* mesh_config is unused by the Extism kinds: pass NULL to mesh_config_get,
 * which asks the host (Extism config_get) for key. */
struct mesh_config { int unused; };

/* mesh_config_get (auth/route) asks the host for key; cfg is ignored. */
MESH_FN int mesh_config_get(const mesh_config *cfg, const char *key, mesh_bytes *value) {
	(void)cfg;
	uint64_t k = mesh_x_write(mesh_str(key));
	uint64_t off = mesh_x_config_get(k);
	mesh_x_free(k);
	if (off == 0) return 0;
	mesh_bytes v = mesh_x_read(off);
	mesh_x_free(off);
	if (value) *value = v;
	return 1;
}

/* Log levels for mesh_log. */
enum { MESH_LOG_DEBUG, MESH_LOG_INFO, MESH_LOG_WARN, MESH_LOG_ERROR };

/* mesh_log writes msg to the node's log at level (MESH_LOG_*). */
MESH_FN void mesh_log(int level, mesh_bytes msg) {
	uint64_t off = mesh_x_write(msg);
	switch (level) {
	case MESH_LOG_DEBUG: mesh_x_log_debug(off); break;
	case MESH_LOG_INFO: mesh_x_log_info(off); break;
	case MESH_LOG_WARN: mesh_x_log_warn(off); break;
	default: mesh_x_log_error(off); break;
	}
	mesh_x_free(off);
}

/* mesh_log_str logs a NUL-terminated message at level. */
MESH_FN inline void mesh_log_str(int level, const char *msg) { mesh_log(level, mesh_str(msg)); }

/* mesh_x_begin starts an Extism call: resets the heap and the error flag. */
MESH_FN inline void mesh_x_begin(void) { mesh_heap_reset(); mesh_error_was_set = 0; }

/* mesh_x_fail ends a failed call: rc, with a default message when the
 * author set none. */
MESH_FN int32_t mesh_x_fail(int rc, const char *what) {
	if (!mesh_error_was_set) mesh_error(what);
	return rc ? rc : 1;
}

#endif /* MESH_AUTH || MESH_ROUTE */

/* ======================================================================
 * 8. Auth policies (ABI.md §4)
 * ====================================================================== */
#ifdef MESH_AUTH

/* mesh_auth_request is the AuthRequest document; strings absent from the
 * input are empty. */
typedef struct {
	mesh_bytes method, path, session, topic, source_node, target_node, token, remote_addr, tls_identity;
	mesh_bytes caller; /* "container" or "partner" */
	int64_t now;       /* the host's clock, Unix seconds */
} mesh_auth_request;

/* mesh_auth_decision is the AuthDecision document; the kit zeroes it
 * (allow = 0: refuse) before calling auth_authorize. Empty fields are left
 * out of the output. */
typedef struct {
	int allow;          /* non-zero admits the request */
	mesh_bytes reason;  /* shown to a refused caller */
	mesh_pairs headers; /* added to an admitted push's metadata (mesh_pairs_add) */
	int64_t ttl_ms;     /* cache lifetime: 0 the plugin's default, < 0 no caching */
} mesh_auth_decision;

/* The author defines auth_authorize: fill *d and return 0, or call
 * mesh_error and return non-zero to fail (ABI.md §4.4). */
int auth_authorize(const mesh_auth_request *req, mesh_auth_decision *d);

/* mesh_auth_parse reads an AuthRequest (unknown fields ignored); 0 on bad JSON. */
MESH_FN int mesh_auth_parse(mesh_bytes in, mesh_auth_request *r) {
	mesh_json j = {in.ptr, in.ptr + in.len, 0};
	int first = 1;
	mesh_bytes k;
	while (mesh_json_object_next(&j, &first, &k)) {
		mesh_bytes *f = mesh_eq(k, "method") ? &r->method : mesh_eq(k, "path") ? &r->path :
		                mesh_eq(k, "session") ? &r->session : mesh_eq(k, "topic") ? &r->topic :
		                mesh_eq(k, "source_node") ? &r->source_node : mesh_eq(k, "target_node") ? &r->target_node :
		                mesh_eq(k, "token") ? &r->token : mesh_eq(k, "remote_addr") ? &r->remote_addr :
		                mesh_eq(k, "tls_identity") ? &r->tls_identity : mesh_eq(k, "caller") ? &r->caller : 0;
		mesh_json_ws(&j);
		if (f && j.p < j.end && *j.p == '"') *f = mesh_json_string(&j);
		else if (mesh_eq(k, "now") && j.p < j.end && *j.p != 'n') r->now = mesh_json_int(&j);
		else mesh_json_skip(&j, 1);
	}
	return !j.err;
}

/* mesh_auth_write writes d as an AuthDecision document. */
MESH_FN mesh_bytes mesh_auth_write(const mesh_auth_decision *d) {
	mesh_buf b = {0, 0, 0};
	int first = 1;
	mesh_buf_put(&b, "{", 1);
	mesh_json_put_key(&b, &first, "allow");
	mesh_buf_str(&b, d->allow ? "true" : "false");
	mesh_json_put_str(&b, &first, "reason", d->reason);
	mesh_json_put_pairs(&b, &first, "headers", &d->headers);
	if (d->ttl_ms) { mesh_json_put_key(&b, &first, "ttl_ms"); mesh_buf_int(&b, d->ttl_ms); }
	mesh_buf_put(&b, "}", 1);
	return mesh_buf_slice(&b);
}

/* authorize (export): parse, call auth_authorize, write the decision. */
MESH_EXPORT("authorize") int32_t mesh_authorize(void) {
	mesh_x_begin();
	mesh_auth_request req = {0};
	mesh_auth_decision d = {0};
	if (!mesh_auth_parse(mesh_input(), &req)) return mesh_x_fail(1, "bad input: the AuthRequest is not valid JSON");
	int rc = auth_authorize(&req, &d);
	if (rc != 0) return mesh_x_fail(rc, "auth_authorize failed");
	mesh_output_set(mesh_auth_write(&d));
	return 0;
}

#endif /* MESH_AUTH */

/* ======================================================================
 * 9. Route handlers (ABI.md §5)
 * ====================================================================== */
#ifdef MESH_ROUTE

/* mesh_route_request is the RouteRequest document; absent fields are empty. */
typedef struct {
	mesh_bytes method, path, query; /* HTTP method, URL path (or x-ptp-uri), raw query */
	mesh_pairs headers;             /* lower-case names, first value */
	mesh_bytes body;                /* the request body, decoded from base64 */
	mesh_bytes remote_addr, tls_identity;
} mesh_route_request;

/* Route actions (mesh_route_response.action). */
typedef enum { MESH_NEXT = 0, MESH_RESPOND, MESH_FORWARD } mesh_route_action;

/* mesh_route_response is the RouteResponse document; the kit zeroes it
 * (action MESH_NEXT) before calling route_handle. */
typedef struct {
	mesh_route_action action;
	int32_t status;     /* respond: HTTP status (0: 200) */
	mesh_pairs headers; /* respond: reply headers; forward: headers to set (mesh_pairs_add) */
	mesh_bytes body;    /* respond: the reply body (the kit base64-encodes it) */
	mesh_bytes target;  /* forward: "http://host:port", "https://..." or "node:<id>" */
} mesh_route_response;

/* The author defines route_handle: fill *resp and return 0, or call
 * mesh_error and return non-zero to fail (ABI.md §5). */
int route_handle(const mesh_route_request *req, mesh_route_response *resp);

/* mesh_route_parse reads a RouteRequest (unknown fields ignored); 0 on bad
 * JSON or base64. */
MESH_FN int mesh_route_parse(mesh_bytes in, mesh_route_request *r) {
	mesh_json j = {in.ptr, in.ptr + in.len, 0};
	int first = 1, ok = 1;
	mesh_bytes k;
	while (mesh_json_object_next(&j, &first, &k)) {
		mesh_bytes *f = mesh_eq(k, "method") ? &r->method : mesh_eq(k, "path") ? &r->path :
		                mesh_eq(k, "query") ? &r->query : mesh_eq(k, "remote_addr") ? &r->remote_addr :
		                mesh_eq(k, "tls_identity") ? &r->tls_identity : 0;
		mesh_json_ws(&j);
		int str = j.p < j.end && *j.p == '"';
		if (f && str) *f = mesh_json_string(&j);
		else if (mesh_eq(k, "body") && str) ok &= mesh_base64_decode(mesh_json_string(&j), &r->body);
		else if (mesh_eq(k, "headers") && j.p < j.end && *j.p == '{') r->headers = mesh_json_pairs(&j);
		else mesh_json_skip(&j, 1);
	}
	return !j.err && ok;
}

/* mesh_route_write writes resp as a RouteResponse document. */
MESH_FN mesh_bytes mesh_route_write(const mesh_route_response *r) {
	static const char *const names[] = {"next", "respond", "forward"};
	mesh_buf b = {0, 0, 0};
	int first = 1;
	mesh_buf_put(&b, "{", 1);
	mesh_json_put_str(&b, &first, "action", mesh_str(r->action <= MESH_FORWARD ? names[r->action] : "?"));
	if (r->status) { mesh_json_put_key(&b, &first, "status"); mesh_buf_int(&b, r->status); }
	mesh_json_put_pairs(&b, &first, "headers", &r->headers);
	mesh_json_put_base64(&b, &first, "body", r->body);
	mesh_json_put_str(&b, &first, "target", r->target);
	mesh_buf_put(&b, "}", 1);
	return mesh_buf_slice(&b);
}

/* handle (export): parse, call route_handle, write the response. */
MESH_EXPORT("handle") int32_t mesh_handle(void) {
	mesh_x_begin();
	mesh_route_request req = {0};
	mesh_route_response resp = {0};
	if (!mesh_route_parse(mesh_input(), &req)) return mesh_x_fail(1, "bad input: the RouteRequest is not valid JSON");
	int rc = route_handle(&req, &resp);
	if (rc != 0) return mesh_x_fail(rc, "route_handle failed");
	mesh_output_set(mesh_route_write(&resp));
	return 0;
}

#endif /* MESH_ROUTE */

#endif /* MESH_PLUGIN_H */
