/*
 * SM4 (GB/T 32907-2016) and SM4-GCM (NIST SP 800-38D with SM4, as RFC 8998
 * uses it: 96-bit nonce, 128-bit tag). Freestanding C: no libc, so the same
 * sources build for wasm32-unknown-unknown and natively for the tests.
 */
#ifndef MESH_SM4_H
#define MESH_SM4_H

#include <stdint.h>

/* SM4_UNROLL asks the compiler to unroll the loop that follows fully. */
#if defined(__clang__)
#define SM4_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define SM4_UNROLL _Pragma("GCC unroll 32")
#else
#define SM4_UNROLL
#endif

/* SM4_NONCE and SM4_TAG are the GCM nonce and tag sizes in bytes. */
#define SM4_NONCE 12
#define SM4_TAG 16

/* sm4_key is an expanded SM4 encryption key: the 32 round keys. */
typedef struct {
	uint32_t rk[32];
} sm4_key;

/* gf128 is an element of GF(2^128) in GCM's bit order, as two big-endian
 * 64-bit halves of the 16-byte block. */
typedef struct {
	uint64_t hi, lo;
} gf128;

/* sm4_gcm is SM4-GCM ready for one key and one additional data: the round
 * keys, the 8-bit GHASH tables of H and H^2 (4 KiB each) and the GHASH
 * state after the additional data, so the data itself need not be kept. */
typedef struct {
	sm4_key key;
	gf128 htab[256];  /* b * H for every byte b */
	gf128 htab2[256]; /* b * H^2: two blocks absorbed with one reduction */
	gf128 aad_hash;
	uint64_t aad_len;
} sm4_gcm;

/* sm4_set_key expands a 16-byte key. */
void sm4_set_key(sm4_key *k, const uint8_t key[16]);

/* sm4_encrypt_block encrypts one 16-byte block (in and out may alias). */
void sm4_encrypt_block(const sm4_key *k, const uint8_t in[16], uint8_t out[16]);

/* sm4_crypt_words encrypts a block held as four big-endian words, in
 * place (the form GCM works in). */
void sm4_crypt_words(const sm4_key *k, uint32_t x[4]);

/* sm4_crypt_words2 is sm4_crypt_words on two blocks at once (faster). */
void sm4_crypt_words2(const sm4_key *k, uint32_t x[4], uint32_t y[4]);

/* sm4_gcm_init sets up g for key and the additional data aad. */
void sm4_gcm_init(sm4_gcm *g, const uint8_t key[16], const uint8_t *aad, uint32_t aad_len);

/* sm4_gcm_seal encrypts the n bytes of pt into ct (which may alias pt) and
 * writes the tag. */
void sm4_gcm_seal(const sm4_gcm *g, const uint8_t nonce[SM4_NONCE], const uint8_t *pt, uint32_t n,
                  uint8_t *ct, uint8_t tag[SM4_TAG]);

/* sm4_gcm_open decrypts the n bytes of ct into pt (which may alias ct) and
 * returns 0 when tag authenticates them, -1 otherwise (pt then holds
 * unauthenticated bytes the caller must not use). */
int sm4_gcm_open(const sm4_gcm *g, const uint8_t nonce[SM4_NONCE], const uint8_t *ct, uint32_t n,
                 const uint8_t tag[SM4_TAG], uint8_t *pt);

/* sm4_selftest checks the implementation against GB/T 32907 example 1 and
 * the SM4-GCM vector of RFC 8998 appendix A.1; 0 when both match. */
int sm4_selftest(void);

#endif
