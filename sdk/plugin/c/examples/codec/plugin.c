/*
 * xor — an example Mesh codec in C: it XORs every byte with a key byte, so
 * encoding twice gives the input back. Not encryption — an example of the kit.
 *
 * Config: "key", one byte in decimal (90) or hex (0x5a), as Go's
 * strconv.ParseUint(s, 0, 8) reads it; default 0x5a.
 * Build: ./build.sh . xor.wasm (in a project from mesh plugin new), or
 * sdk/plugin/c/build.sh sdk/plugin/c/examples/KIND OUT.wasm in the repository.
 */
#define MESH_CODEC
#define MESH_CODEC_CONFIGURE
#include "mesh_plugin.h"

/* key is the byte every payload byte is XORed with. */
static uint8_t key = 0x5a;

/* digit is the value of c as a digit, or 99. */
static int digit(uint8_t c) {
	if (c >= '0' && c <= '9') return c - '0';
	c |= 32;
	return c >= 'a' && c <= 'z' ? c - 'a' + 10 : 99;
}

/* underscores_ok reports whether every '_' in s separates digits (or the
 * base prefix and a digit), as Go's strconv requires. */
static int underscores_ok(mesh_bytes s) {
	char saw = '^';
	uint32_t i = 0;
	int hex = 0;
	if (s.len >= 2 && s.ptr[0] == '0' && ((s.ptr[1] | 32) == 'b' || (s.ptr[1] | 32) == 'o' || (s.ptr[1] | 32) == 'x')) {
		i = 2;
		saw = '0';
		hex = (s.ptr[1] | 32) == 'x';
	}
	for (; i < s.len; i++) {
		uint8_t c = s.ptr[i];
		if ((c >= '0' && c <= '9') || (hex && (c | 32) >= 'a' && (c | 32) <= 'f')) { saw = '0'; continue; }
		if (c == '_') {
			if (saw != '0') return 0;
			saw = '_';
			continue;
		}
		if (saw == '_') return 0;
		saw = '!';
	}
	return saw != '_';
}

/* parse_byte reads s like strconv.ParseUint(s, 0, 8): 1 and *out, or 0. */
static int parse_byte(mesh_bytes s, uint8_t *out) {
	uint32_t i = 0, base = 10, v = 0;
	int under = 0;
	if (s.len == 0) return 0;
	if (s.ptr[0] == '0') {
		uint8_t c = s.len >= 3 ? (s.ptr[1] | 32) : 0;
		base = c == 'b' ? 2 : c == 'o' ? 8 : c == 'x' ? 16 : 8;
		i = base == 8 && c != 'o' ? 1 : 2;
	}
	for (; i < s.len; i++) {
		if (s.ptr[i] == '_') { under = 1; continue; }
		uint32_t d = (uint32_t)digit(s.ptr[i]);
		if (d >= base) return 0;
		v = v * base + d;
		if (v > 255) return 0;
	}
	if (under && !underscores_ok(s)) return 0;
	*out = (uint8_t)v;
	return 1;
}

/* quote writes s as Go's %q would (for ASCII and valid UTF-8) at d and
 * returns the length; d needs 4*len+2 bytes. */
static uint32_t quote(uint8_t *d, mesh_bytes s) {
	static const char hex[] = "0123456789abcdef";
	uint32_t k = 0;
	d[k++] = '"';
	for (uint32_t i = 0; i < s.len; i++) {
		uint8_t c = s.ptr[i];
		const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\t' ? "\\t" :
		                c == '\r' ? "\\r" : c == '\a' ? "\\a" : c == '\b' ? "\\b" : c == '\f' ? "\\f" :
		                c == '\v' ? "\\v" : 0;
		if (e) { d[k++] = (uint8_t)e[0]; d[k++] = (uint8_t)e[1]; continue; }
		if (c < 0x20 || c == 0x7f || c >= 0x80) {
			uint32_t n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
			uint32_t j = 1;
			while (n && j < n && i + j < s.len && (s.ptr[i + j] & 0xc0) == 0x80) j++;
			if (n && j == n) { /* a valid UTF-8 sequence: keep it */
				memcpy(d + k, s.ptr + i, n);
				k += n;
				i += n - 1;
				continue;
			}
			d[k++] = '\\'; d[k++] = 'x'; d[k++] = (uint8_t)hex[c >> 4]; d[k++] = (uint8_t)hex[c & 15];
			continue;
		}
		d[k++] = c;
	}
	d[k++] = '"';
	return k;
}

/* codec_configure reads the optional key. */
mesh_result codec_configure(const mesh_config *cfg) {
	mesh_bytes s;
	if (!mesh_config_get(cfg, "key", &s)) return 0;
	if (parse_byte(s, &key)) return 0;
	mesh_bytes q = mesh_output(4 * s.len + 2);
	uint32_t n = quote(q.ptr, s);
	return mesh_fail2("xor: key must be a byte (0-255), got ", (const char *)q.ptr, n);
}

/* xor XORs in with key in place and returns it (output may alias the
 * input, ABI.md §2.3); with key 0 it returns the input untouched: the
 * identity call. It XORs 64 bytes per loop iteration: the host bounds every
 * call, and a bounded guest pays a check on each loop iteration. */
static mesh_result xor(mesh_bytes in) {
	if (key == 0) return mesh_ok(in);
	uint64_t k = key * 0x0101010101010101ull;
	uint32_t i = 0;
	for (; i + 64 <= in.len; i += 64) {
		uint64_t w[8];
		memcpy(w, in.ptr + i, 64);
		for (int j = 0; j < 8; j++) w[j] ^= k;
		memcpy(in.ptr + i, w, 64);
	}
	for (; i < in.len; i++) in.ptr[i] ^= key;
	return mesh_ok(in);
}

mesh_result codec_encode(mesh_bytes in) { return xor(in); }
mesh_result codec_decode(mesh_bytes in) { return xor(in); }
