//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI placeholder. Reports no native path, so HWCrypto uses its portable path until the
// AES-NI / VAES kernels land (they replace this file).
//
//===----------------------------------------------------------------------===//

#include "caesni.h"

#include <string.h>

uint32_t hwk_supported_paths(void) { return 0; }

void hwk_aes_expand(hwk_aes_key *out, const uint8_t *key, size_t key_len) { (void)out; (void)key; (void)key_len; }
void hwk_xts_expand(hwk_xts_key *out, const uint8_t *d, const uint8_t *t, size_t n) { (void)out; (void)d; (void)t; (void)n; }

void hwk_secure_zero(void *p, size_t n) {
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) *v++ = 0;
}

void hwk_aes_encrypt_blocks(uint32_t p, const hwk_aes_key *k, const uint8_t *s, uint8_t *d, size_t n) { (void)p; (void)k; (void)s; (void)d; (void)n; }
void hwk_aes_decrypt_blocks(uint32_t p, const hwk_aes_key *k, const uint8_t *s, uint8_t *d, size_t n) { (void)p; (void)k; (void)s; (void)d; (void)n; }
void hwk_xts_encrypt_units(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, size_t ul, size_t n, const uint8_t *t) { (void)p; (void)k; (void)s; (void)d; (void)ul; (void)n; (void)t; }
void hwk_xts_decrypt_units(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, size_t ul, size_t n, const uint8_t *t) { (void)p; (void)k; (void)s; (void)d; (void)ul; (void)n; (void)t; }
void hwk_xts_encrypt_units_seq(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, size_t ul, size_t n, uint64_t f) { (void)p; (void)k; (void)s; (void)d; (void)ul; (void)n; (void)f; }
void hwk_xts_decrypt_units_seq(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, size_t ul, size_t n, uint64_t f) { (void)p; (void)k; (void)s; (void)d; (void)ul; (void)n; (void)f; }
void hwk_xts_encrypt_lines(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, const uint64_t *q, size_t n) { (void)p; (void)k; (void)s; (void)d; (void)q; (void)n; }
void hwk_xts_decrypt_lines(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, const uint64_t *q, size_t n) { (void)p; (void)k; (void)s; (void)d; (void)q; (void)n; }
void hwk_xts_encrypt_lines_seq(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, uint64_t f, size_t n) { (void)p; (void)k; (void)s; (void)d; (void)f; (void)n; }
void hwk_xts_decrypt_lines_seq(uint32_t p, const hwk_xts_key *k, const uint8_t *s, uint8_t *d, uint64_t f, size_t n) { (void)p; (void)k; (void)s; (void)d; (void)f; (void)n; }
void hwk_xts_encrypt_lines_iov(uint32_t p, const hwk_xts_key *k, const hwk_line_io *i, size_t n) { (void)p; (void)k; (void)i; (void)n; }
void hwk_xts_decrypt_lines_iov(uint32_t p, const hwk_xts_key *k, const hwk_line_io *i, size_t n) { (void)p; (void)k; (void)i; (void)n; }

void hwk_xts_tweak_sequence(const uint8_t t0[16], uint8_t *out, size_t n) {
    uint8_t t[16];
    memcpy(t, t0, 16);
    for (size_t j = 0; j < n; j++) {
        memcpy(out + 16 * j, t, 16);
        uint8_t carry = 0;
        for (int b = 0; b < 16; b++) {
            uint8_t next = (uint8_t)(t[b] >> 7);
            t[b] = (uint8_t)((t[b] << 1) | carry);
            carry = next;
        }
        if (carry) t[0] ^= 0x87;
    }
}

void hwk_xor_bytes(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t nbytes) {
    for (size_t k = 0; k < nbytes; k++) dst[k] = a[k] ^ b[k];
}
