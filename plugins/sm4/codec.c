/*
 * sm4 — Mesh's SM4-GCM codec (GB/T 32907-2016 block cipher, GCM as in
 * RFC 8998). Config "key" is the 16-byte key as 32 hex characters or
 * standard base64; optional "aad" is additional data both sides must agree
 * on. An encoded payload is nonce(12) | ciphertext | tag(16), the nonce
 * fresh from the host's CSPRNG (WASI random_get) for every payload.
 *
 * Build: sdk/plugin/c/build.sh plugins/sm4 sm4.wasm
 */
#define MESH_CODEC
#define MESH_CODEC_CONFIGURE
#include "mesh_plugin.h"

#include "sm4.h"

/* OVERHEAD is what encoding adds: the nonce and the tag. */
#define OVERHEAD (SM4_NONCE + SM4_TAG)

/* The errors a user may see. None repeats the key. */
#define ERR_NO_KEY "sm4: config key is required: 16 bytes as 32 hex characters or standard base64"
#define ERR_KEY "sm4: key must be 16 bytes as 32 hex characters or standard base64 (got "
#define ERR_AUTH "sm4: authentication failed: wrong key or corrupted payload"
#define ERR_NOT_READY "sm4: no key configured (install the plugin with --config key=...)"
#define ERR_SHORT "sm4: payload too short: "
#define ERR_SELFTEST "sm4: self-test failed: the cipher does not reproduce the GB/T 32907 and RFC 8998 vectors"
#define ERR_TOO_BIG "sm4: payload too large for a 32-bit length"

/* The configured cipher (4 KiB of GHASH table: static, set once per instance). */
static sm4_gcm gcm;
static int ready;

/* hexval is the value of the hex digit c, or -1. */
static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 32;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* b64val is the value of the standard base64 digit c, or -1. */
static int b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* parse_hex reads 32 hex characters into key: 1, or 0. */
static int parse_hex(mesh_bytes s, uint8_t key[16])
{
	if (s.len != 32)
		return 0;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(s.ptr[2 * i]), lo = hexval(s.ptr[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 1;
}

/* parse_base64 reads standard, padded base64 of 16 bytes (22 digits and
 * "==") into key: 1, or 0. Like Go's StdEncoding, the unused low bits of the
 * last digit are ignored. */
static int parse_base64(mesh_bytes s, uint8_t key[16])
{
	if (s.len != 24 || s.ptr[22] != '=' || s.ptr[23] != '=')
		return 0;
	uint32_t acc = 0;
	int bits = 0, n = 0;
	for (int i = 0; i < 22; i++) {
		int v = b64val(s.ptr[i]);
		if (v < 0)
			return 0;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			key[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n == 16;
}

/* decimal writes v in decimal at d and returns the digits written (at most 10). */
static uint32_t decimal(char *d, uint32_t v)
{
	char tmp[10];
	uint32_t n = 0, k = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		d[k++] = tmp[--n];
	return k;
}

/* fail_count fails with prefix, the number v and suffix. */
static mesh_result fail_count(const char *prefix, uint32_t v, const char *suffix)
{
	char detail[80];
	uint32_t n = decimal(detail, v);
	for (const char *p = suffix; *p && n < sizeof detail; p++)
		detail[n++] = *p;
	return mesh_fail2(prefix, detail, n);
}

/* codec_configure checks the cipher, then reads key and aad. */
mesh_result codec_configure(const mesh_config *cfg)
{
	mesh_bytes s, aad = {0, 0};
	uint8_t key[16];
	ready = 0;
	if (sm4_selftest() != 0)
		return mesh_fail(ERR_SELFTEST);
	if (!mesh_config_get(cfg, "key", &s) || s.len == 0)
		return mesh_fail(ERR_NO_KEY);
	if (!parse_hex(s, key) && !parse_base64(s, key))
		return fail_count(ERR_KEY, s.len, " characters)");
	mesh_config_get(cfg, "aad", &aad);
	/* The aad is absorbed into GHASH now: nothing of the config is kept. */
	sm4_gcm_init(&gcm, key, aad.ptr, aad.len);
	for (int i = 0; i < 16; i++)
		((volatile uint8_t *)key)[i] = 0;
	ready = 1;
	return 0;
}

/* codec_encode seals in under a fresh random nonce. */
mesh_result codec_encode(mesh_bytes in)
{
	if (!ready)
		return mesh_fail(ERR_NOT_READY);
	if (in.len > UINT32_MAX - OVERHEAD)
		return mesh_fail(ERR_TOO_BIG);
	mesh_bytes out = mesh_output(in.len + OVERHEAD);
	mesh_random(out.ptr, SM4_NONCE);
	sm4_gcm_seal(&gcm, out.ptr, in.ptr, in.len, out.ptr + SM4_NONCE, out.ptr + SM4_NONCE + in.len);
	return mesh_ok(out);
}

/* codec_decode authenticates and decrypts in, in place. */
mesh_result codec_decode(mesh_bytes in)
{
	if (!ready)
		return mesh_fail(ERR_NOT_READY);
	if (in.len < OVERHEAD)
		return fail_count(ERR_SHORT, in.len, " bytes, at least 28 (12-byte nonce and 16-byte tag)");
	uint32_t n = in.len - OVERHEAD;
	uint8_t *ct = in.ptr + SM4_NONCE;
	if (sm4_gcm_open(&gcm, in.ptr, ct, n, ct + n, ct) != 0)
		return mesh_fail(ERR_AUTH);
	mesh_bytes out = {ct, n};
	return mesh_ok(out);
}
