/*
 * The SM4 block cipher (GB/T 32907-2016), table-driven.
 *
 * Each round is X[i+4] = X[i] ^ L(tau(X[i+1] ^ X[i+2] ^ X[i+3] ^ rk[i])),
 * tau the S-box on each byte and L(B) = B ^ B<<<2 ^ B<<<10 ^ B<<<18 ^ B<<<24.
 * L is linear and commutes with rotation, so L(tau(B)) is the XOR of four
 * 256-entry tables indexed by the bytes of B: T0[b] = L(S[b] << 24) and
 * T1..T3 its rotations by 8, 16 and 24 bits. The key schedule does the same
 * with L'(B) = B ^ B<<<13 ^ B<<<23.
 *
 * Not constant-time: the table look-ups are indexed by secret bytes, like
 * most portable software SM4 and AES. Inside a WebAssembly sandbox on a
 * gateway the cache-timing exposure is the host's, and the speed matters.
 */
#include "sm4.h"

static const uint8_t sbox[256] = {
	0xd6, 0x90, 0xe9, 0xfe, 0xcc, 0xe1, 0x3d, 0xb7, 0x16, 0xb6, 0x14, 0xc2, 0x28, 0xfb, 0x2c, 0x05,
	0x2b, 0x67, 0x9a, 0x76, 0x2a, 0xbe, 0x04, 0xc3, 0xaa, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99,
	0x9c, 0x42, 0x50, 0xf4, 0x91, 0xef, 0x98, 0x7a, 0x33, 0x54, 0x0b, 0x43, 0xed, 0xcf, 0xac, 0x62,
	0xe4, 0xb3, 0x1c, 0xa9, 0xc9, 0x08, 0xe8, 0x95, 0x80, 0xdf, 0x94, 0xfa, 0x75, 0x8f, 0x3f, 0xa6,
	0x47, 0x07, 0xa7, 0xfc, 0xf3, 0x73, 0x17, 0xba, 0x83, 0x59, 0x3c, 0x19, 0xe6, 0x85, 0x4f, 0xa8,
	0x68, 0x6b, 0x81, 0xb2, 0x71, 0x64, 0xda, 0x8b, 0xf8, 0xeb, 0x0f, 0x4b, 0x70, 0x56, 0x9d, 0x35,
	0x1e, 0x24, 0x0e, 0x5e, 0x63, 0x58, 0xd1, 0xa2, 0x25, 0x22, 0x7c, 0x3b, 0x01, 0x21, 0x78, 0x87,
	0xd4, 0x00, 0x46, 0x57, 0x9f, 0xd3, 0x27, 0x52, 0x4c, 0x36, 0x02, 0xe7, 0xa0, 0xc4, 0xc8, 0x9e,
	0xea, 0xbf, 0x8a, 0xd2, 0x40, 0xc7, 0x38, 0xb5, 0xa3, 0xf7, 0xf2, 0xce, 0xf9, 0x61, 0x15, 0xa1,
	0xe0, 0xae, 0x5d, 0xa4, 0x9b, 0x34, 0x1a, 0x55, 0xad, 0x93, 0x32, 0x30, 0xf5, 0x8c, 0xb1, 0xe3,
	0x1d, 0xf6, 0xe2, 0x2e, 0x82, 0x66, 0xca, 0x60, 0xc0, 0x29, 0x23, 0xab, 0x0d, 0x53, 0x4e, 0x6f,
	0xd5, 0xdb, 0x37, 0x45, 0xde, 0xfd, 0x8e, 0x2f, 0x03, 0xff, 0x6a, 0x72, 0x6d, 0x6c, 0x5b, 0x51,
	0x8d, 0x1b, 0xaf, 0x92, 0xbb, 0xdd, 0xbc, 0x7f, 0x11, 0xd9, 0x5c, 0x41, 0x1f, 0x10, 0x5a, 0xd8,
	0x0a, 0xc1, 0x31, 0x88, 0xa5, 0xcd, 0x7b, 0xbd, 0x2d, 0x74, 0xd0, 0x12, 0xb8, 0xe5, 0xb4, 0xb0,
	0x89, 0x69, 0x97, 0x4a, 0x0c, 0x96, 0x77, 0x7e, 0x65, 0xb9, 0xf1, 0x09, 0xc5, 0x6e, 0xc6, 0x84,
	0x18, 0xf0, 0x7d, 0xec, 0x3a, 0xdc, 0x4d, 0x20, 0x79, 0xee, 0x5f, 0x3e, 0xd7, 0xcb, 0x39, 0x48,
};

/* The system parameter FK of the key schedule. */
static const uint32_t fk[4] = {0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc};

/* The round tables (L after the S-box) and the key-schedule table (L'). */
static uint32_t t0[256], t1[256], t2[256], t3[256], kt[256];
static int tables_ready;

static inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* init_tables fills the tables from the S-box, once. */
static void init_tables(void)
{
	if (tables_ready)
		return;
	for (int i = 0; i < 256; i++) {
		uint32_t b = (uint32_t)sbox[i] << 24;
		uint32_t l = b ^ rotl(b, 2) ^ rotl(b, 10) ^ rotl(b, 18) ^ rotl(b, 24);
		t0[i] = l;
		t1[i] = rotl(l, 24);
		t2[i] = rotl(l, 16);
		t3[i] = rotl(l, 8);
		kt[i] = b ^ rotl(b, 13) ^ rotl(b, 23);
	}
	tables_ready = 1;
}

static inline uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void sm4_set_key(sm4_key *k, const uint8_t key[16])
{
	init_tables();
	uint32_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = load32(key + 4 * i) ^ fk[i];
	for (int i = 0; i < 32; i++) {
		/* CK[i] has bytes (4i+j)*7 mod 256, j = 0..3. */
		uint32_t ck = 0;
		for (int j = 0; j < 4; j++)
			ck = ck << 8 | (uint8_t)((4 * i + j) * 7);
		uint32_t t = x[(i + 1) & 3] ^ x[(i + 2) & 3] ^ x[(i + 3) & 3] ^ ck;
		t = kt[t >> 24] ^ rotl(kt[(t >> 16) & 0xff], 24) ^ rotl(kt[(t >> 8) & 0xff], 16) ^ rotl(kt[t & 0xff], 8);
		x[i & 3] ^= t;
		k->rk[i] = x[i & 3];
	}
}

/* ROUND is one round: x0 ^= T(x1 ^ x2 ^ x3 ^ rk). */
#define ROUND(x0, x1, x2, x3, rk)                                                             \
	do {                                                                                  \
		uint32_t t_ = (x1) ^ (x2) ^ (x3) ^ (rk);                                      \
		(x0) ^= t0[t_ >> 24] ^ t1[(t_ >> 16) & 0xff] ^ t2[(t_ >> 8) & 0xff] ^ t3[t_ & 0xff]; \
	} while (0)

/* sm4_crypt_words encrypts the block (x[0], x[1], x[2], x[3]) of big-endian
 * words in place: the core shared with GCM, which keeps blocks as words. */
void sm4_crypt_words(const sm4_key *k, uint32_t x[4])
{
	uint32_t a = x[0], b = x[1], c = x[2], d = x[3];
	const uint32_t *rk = k->rk;
	/* Unrolled: straight-line code, and no loop-header deadline check
	 * (the host's) per four rounds. */
	SM4_UNROLL
	for (int i = 0; i < 32; i += 4) {
		ROUND(a, b, c, d, rk[i]);
		ROUND(b, c, d, a, rk[i + 1]);
		ROUND(c, d, a, b, rk[i + 2]);
		ROUND(d, a, b, c, rk[i + 3]);
	}
	/* The output is the reverse (X35, X34, X33, X32). */
	x[0] = d;
	x[1] = c;
	x[2] = b;
	x[3] = a;
}

/* sm4_crypt_words2 encrypts two blocks at once, their rounds interleaved:
 * each block's rounds are a serial chain, two chains keep the CPU busy. */
void sm4_crypt_words2(const sm4_key *k, uint32_t x[4], uint32_t y[4])
{
	uint32_t a = x[0], b = x[1], c = x[2], d = x[3];
	uint32_t e = y[0], f = y[1], g = y[2], h = y[3];
	const uint32_t *rk = k->rk;
	SM4_UNROLL
	for (int i = 0; i < 32; i += 4) {
		ROUND(a, b, c, d, rk[i]);
		ROUND(e, f, g, h, rk[i]);
		ROUND(b, c, d, a, rk[i + 1]);
		ROUND(f, g, h, e, rk[i + 1]);
		ROUND(c, d, a, b, rk[i + 2]);
		ROUND(g, h, e, f, rk[i + 2]);
		ROUND(d, a, b, c, rk[i + 3]);
		ROUND(h, e, f, g, rk[i + 3]);
	}
	x[0] = d;
	x[1] = c;
	x[2] = b;
	x[3] = a;
	y[0] = h;
	y[1] = g;
	y[2] = f;
	y[3] = e;
}

void sm4_encrypt_block(const sm4_key *k, const uint8_t in[16], uint8_t out[16])
{
	uint32_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = load32(in + 4 * i);
	sm4_crypt_words(k, x);
	for (int i = 0; i < 4; i++)
		store32(out + 4 * i, x[i]);
}
