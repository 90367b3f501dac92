/*
 * SM4-GCM: CTR encryption and GHASH (NIST SP 800-38D) over SM4, as RFC 8998.
 *
 * GHASH multiplies by H with Shoup's 8-bit method: a per-key table of the
 * 256 products b*H (4 KiB, built at configure) and a key-independent table
 * of the 256 reductions of a byte shifted out, so one block costs 16 table
 * look-ups. Pairs of blocks use a second table, of H^2, and share one
 * reduction: (y ^ c1) * H^2 ^ c2 * H. CTR works on big-endian words, so a
 * keystream block XORs into the data as two 64-bit words and the
 * ciphertext words feed GHASH as they are. Like the block cipher, GHASH is table-driven and not constant-time.
 */
#include "sm4.h"

/* red8[r] is the high word of (0, r) * x^8: what the byte r shifted out of
 * the low end adds back at the top. */
static uint64_t red8[256];
static int red8_ready;

/* mulx multiplies v by x in GCM's reflected bit order. */
static inline gf128 mulx(gf128 v)
{
	uint64_t carry = v.lo & 1;
	gf128 r;
	r.lo = v.lo >> 1 | v.hi << 63;
	r.hi = (v.hi >> 1) ^ ((0 - carry) & 0xe100000000000000ULL);
	return r;
}

/* init_red8 fills red8, once. */
static void init_red8(void)
{
	if (red8_ready)
		return;
	for (int r = 0; r < 256; r++) {
		gf128 v = {0, (uint64_t)r};
		for (int i = 0; i < 8; i++)
			v = mulx(v);
		red8[r] = v.hi; /* v.lo is 0: 8 shifts keep the reduction in the top 16 bits */
	}
	red8_ready = 1;
}

/* gmul sets *y to *y * H using the table t of H. Byte 15 of the block (the
 * low byte of lo) comes first: Horner's rule over x^8. */
static inline void gmul(const gf128 *t, gf128 *y)
{
	uint64_t xh = y->hi, xl = y->lo, zh = 0, zl = 0;
	SM4_UNROLL
	for (int i = 0; i < 16; i++) {
		unsigned b = (unsigned)((i < 8 ? xl >> (8 * i) : xh >> (8 * (i - 8))) & 0xff);
		unsigned r = (unsigned)(zl & 0xff);
		zl = zl >> 8 | zh << 56;
		zh = zh >> 8 ^ red8[r];
		zh ^= t[b].hi;
		zl ^= t[b].lo;
	}
	y->hi = zh;
	y->lo = zl;
}

/* gmul2 sets *y to a * H^2 ^ b * H (t2 and t the tables of H^2 and H):
 * ((y ^ c1) * H ^ c2) * H for two blocks, with one shared reduction. */
static inline void gmul2(const gf128 *t2, const gf128 *t, gf128 *y, gf128 a, gf128 b)
{
	uint64_t zh = 0, zl = 0;
	SM4_UNROLL
	for (int i = 0; i < 16; i++) {
		unsigned p = (unsigned)((i < 8 ? a.lo >> (8 * i) : a.hi >> (8 * (i - 8))) & 0xff);
		unsigned q = (unsigned)((i < 8 ? b.lo >> (8 * i) : b.hi >> (8 * (i - 8))) & 0xff);
		unsigned r = (unsigned)(zl & 0xff);
		zl = zl >> 8 | zh << 56;
		zh = zh >> 8 ^ red8[r];
		zh ^= t2[p].hi ^ t[q].hi;
		zl ^= t2[p].lo ^ t[q].lo;
	}
	y->hi = zh;
	y->lo = zl;
}

/* table fills t with the products b * v of every byte b. Bit 7 of a byte
 * is x^0: t[0x80] = v, t[0x40] = v*x, ..., t[1] = v*x^7. */
static void table(gf128 *t, gf128 v)
{
	t[0].hi = t[0].lo = 0;
	t[0x80] = v;
	for (int i = 0x40; i > 0; i >>= 1)
		t[i] = mulx(t[i << 1]);
	for (int i = 2; i < 256; i <<= 1)
		for (int j = 1; j < i; j++) {
			t[i + j].hi = t[i].hi ^ t[j].hi;
			t[i + j].lo = t[i].lo ^ t[j].lo;
		}
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void store64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	__builtin_memcpy(p, &v, 8);
}

/* ghash_bytes absorbs n bytes into *y, the last partial block zero-padded. */
static void ghash_bytes(const gf128 *t, gf128 *y, const uint8_t *p, uint32_t n)
{
	for (; n >= 16; p += 16, n -= 16) {
		y->hi ^= load64(p);
		y->lo ^= load64(p + 8);
		gmul(t, y);
	}
	if (n > 0) {
		uint8_t last[16] = {0};
		for (uint32_t i = 0; i < n; i++)
			last[i] = p[i];
		y->hi ^= load64(last);
		y->lo ^= load64(last + 8);
		gmul(t, y);
	}
}

void sm4_gcm_init(sm4_gcm *g, const uint8_t key[16], const uint8_t *aad, uint32_t aad_len)
{
	init_red8();
	sm4_set_key(&g->key, key);
	uint32_t h[4] = {0, 0, 0, 0};
	sm4_crypt_words(&g->key, h);
	gf128 h1 = {(uint64_t)h[0] << 32 | h[1], (uint64_t)h[2] << 32 | h[3]}, h2 = h1;
	table(g->htab, h1);
	gmul(g->htab, &h2);
	table(g->htab2, h2);
	g->aad_hash.hi = g->aad_hash.lo = 0;
	ghash_bytes(g->htab, &g->aad_hash, aad, aad_len);
	g->aad_len = aad_len;
}

/* ctr_xor XORs the keystream for counters 2, 3, ... of nonce into the n
 * bytes from in to out, and absorbs the ciphertext (out when sealing, in
 * when opening) into *y. */
static void ctr_xor(const sm4_gcm *g, const uint32_t nonce[3], const uint8_t *in, uint32_t n, uint8_t *out,
                    gf128 *y, int sealing)
{
	uint32_t ctr = 2;
	for (; n >= 32; in += 32, out += 32, n -= 32, ctr += 2) {
		uint32_t k1[4] = {nonce[0], nonce[1], nonce[2], ctr};
		uint32_t k2[4] = {nonce[0], nonce[1], nonce[2], ctr + 1};
		sm4_crypt_words2(&g->key, k1, k2);
		uint64_t d[4] = {load64(in), load64(in + 8), load64(in + 16), load64(in + 24)};
		uint64_t c[4] = {d[0] ^ ((uint64_t)k1[0] << 32 | k1[1]), d[1] ^ ((uint64_t)k1[2] << 32 | k1[3]),
		                 d[2] ^ ((uint64_t)k2[0] << 32 | k2[1]), d[3] ^ ((uint64_t)k2[2] << 32 | k2[3])};
		for (int i = 0; i < 4; i++)
			store64(out + 8 * i, c[i]);
		const uint64_t *h = sealing ? c : d;
		gf128 a = {y->hi ^ h[0], y->lo ^ h[1]}, b = {h[2], h[3]};
		gmul2(g->htab2, g->htab, y, a, b);
	}
	for (; n >= 16; in += 16, out += 16, n -= 16, ctr++) {
		uint32_t ks[4] = {nonce[0], nonce[1], nonce[2], ctr};
		sm4_crypt_words(&g->key, ks);
		uint64_t dh = load64(in), dl = load64(in + 8);
		uint64_t ch = dh ^ ((uint64_t)ks[0] << 32 | ks[1]);
		uint64_t cl = dl ^ ((uint64_t)ks[2] << 32 | ks[3]);
		store64(out, ch);
		store64(out + 8, cl);
		if (sealing) {
			y->hi ^= ch;
			y->lo ^= cl;
		} else {
			y->hi ^= dh;
			y->lo ^= dl;
		}
		gmul(g->htab, y);
	}
	if (n > 0) {
		uint32_t ks[4] = {nonce[0], nonce[1], nonce[2], ctr};
		sm4_crypt_words(&g->key, ks);
		uint8_t k[16], c[16] = {0};
		for (int i = 0; i < 4; i++) {
			k[4 * i] = (uint8_t)(ks[i] >> 24);
			k[4 * i + 1] = (uint8_t)(ks[i] >> 16);
			k[4 * i + 2] = (uint8_t)(ks[i] >> 8);
			k[4 * i + 3] = (uint8_t)ks[i];
		}
		for (uint32_t i = 0; i < n; i++) {
			uint8_t d = in[i];
			out[i] = d ^ k[i];
			c[i] = sealing ? out[i] : d;
		}
		y->hi ^= load64(c);
		y->lo ^= load64(c + 8);
		gmul(g->htab, y);
	}
}

/* finish computes the tag of a message of n bytes whose GHASH so far is y. */
static void finish(const sm4_gcm *g, const uint32_t nonce[3], gf128 y, uint32_t n, uint8_t tag[SM4_TAG])
{
	y.hi ^= g->aad_len * 8;
	y.lo ^= (uint64_t)n * 8;
	gmul(g->htab, &y);
	uint32_t j0[4] = {nonce[0], nonce[1], nonce[2], 1};
	sm4_crypt_words(&g->key, j0);
	store64(tag, y.hi ^ ((uint64_t)j0[0] << 32 | j0[1]));
	store64(tag + 8, y.lo ^ ((uint64_t)j0[2] << 32 | j0[3]));
}

static void nonce_words(const uint8_t nonce[SM4_NONCE], uint32_t w[3])
{
	for (int i = 0; i < 3; i++)
		w[i] = (uint32_t)nonce[4 * i] << 24 | (uint32_t)nonce[4 * i + 1] << 16 | (uint32_t)nonce[4 * i + 2] << 8 |
		       nonce[4 * i + 3];
}

void sm4_gcm_seal(const sm4_gcm *g, const uint8_t nonce[SM4_NONCE], const uint8_t *pt, uint32_t n, uint8_t *ct,
                  uint8_t tag[SM4_TAG])
{
	uint32_t w[3];
	nonce_words(nonce, w);
	gf128 y = g->aad_hash;
	ctr_xor(g, w, pt, n, ct, &y, 1);
	finish(g, w, y, n, tag);
}

int sm4_gcm_open(const sm4_gcm *g, const uint8_t nonce[SM4_NONCE], const uint8_t *ct, uint32_t n,
                 const uint8_t tag[SM4_TAG], uint8_t *pt)
{
	uint32_t w[3];
	nonce_words(nonce, w);
	gf128 y = g->aad_hash;
	ctr_xor(g, w, ct, n, pt, &y, 0);
	uint8_t want[SM4_TAG];
	finish(g, w, y, n, want);
	uint8_t diff = 0; /* constant-time comparison */
	for (int i = 0; i < SM4_TAG; i++)
		diff |= want[i] ^ tag[i];
	return diff ? -1 : 0;
}
