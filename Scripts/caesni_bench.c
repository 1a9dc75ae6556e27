// hwkeys: developer harness for CAESNI (not part of the package build).
//
// Checks every CAESNI entry point on every supported path against OpenSSL's EVP AES-XTS / AES-ECB
// (random keys, lengths, sequence numbers, in place and out of place), then times the kernels side
// by side with OpenSSL in the same process, alternating, and reports ratios. `callgrind MODE` runs
// a fixed amount of work for `valgrind --tool=callgrind` (instruction counts are reproducible).
//
//   clang -O2 -ISources/CAESNI/include -ISources/CAESNI Sources/CAESNI/*.c Scripts/caesni_bench.c \
//       -lcrypto -o /tmp/caesni_bench
//   /tmp/caesni_bench check | bench [seconds] | callgrind lines128|lines256|units4k128|openssl16k
//
// User-facing numbers come from `hwkeys benchmark` and the Benchmarks/ package; this is for kernels.

#include "caesni.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rnd(void) { // splitmix64
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static void fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
}

static int failures = 0;
#define CHECK(cond, ...)                                                                                       \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            failures++;                                                                                        \
            if (failures < 20) {                                                                               \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                     \
                printf(__VA_ARGS__);                                                                           \
                printf("\n");                                                                                  \
            }                                                                                                  \
        }                                                                                                      \
    } while (0)

/// OpenSSL XTS of one data unit (any length >= 16) with a 16-byte tweak input.
static void ossl_xts(const uint8_t *key, size_t keylen, const uint8_t tweak[16], const uint8_t *in, uint8_t *out,
                     size_t len, int enc) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *c = keylen == 16 ? EVP_aes_128_xts() : EVP_aes_256_xts();
    int outl = 0;
    EVP_CipherInit_ex(ctx, c, NULL, key, tweak, enc);
    EVP_CipherUpdate(ctx, out, &outl, in, (int)len);
    EVP_CIPHER_CTX_free(ctx);
}

static void seq_tweak(uint64_t seq, uint8_t t[16]) {
    memset(t, 0, 16);
    for (int b = 0; b < 8; b++) t[b] = (uint8_t)(seq >> (8 * b));
}

static uint32_t paths[2];
static int npaths;

static void check_all(void) {
    uint32_t sup = hwk_supported_paths();
    printf("supported paths mask: %u\n", sup);
    enum { MAXL = 300 };
    static uint8_t src[MAXL * 64], dst[MAXL * 64], ref[MAXL * 64], tmp[MAXL * 64];
    static uint64_t seqs[MAXL];
    static hwk_line_io ios[MAXL];
    for (int iter = 0; iter < 400; iter++) {
        size_t kl = (iter & 1) ? 32 : 16;
        uint8_t key[64];
        fill(key, 2 * kl);
        hwk_xts_key xk;
        hwk_xts_expand(&xk, key, key + kl, kl);
        size_t n = (size_t)(rnd() % MAXL);
        if (iter % 7 == 0) n = (size_t)(rnd() % 20);
        fill(src, n * 64);
        for (size_t l = 0; l < n; l++) {
            uint64_t r = rnd();
            seqs[l] = (iter % 3 == 0) ? r : (iter % 3 == 1 ? (r & 0xffffff) : UINT64_MAX - (r & 0xff));
        }
        for (size_t l = 0; l < n; l++) {
            uint8_t t[16];
            seq_tweak(seqs[l], t);
            ossl_xts(key, kl, t, src + 64 * l, ref + 64 * l, 64, 1);
        }
        uint64_t first = (iter % 2) ? rnd() : UINT64_MAX - (rnd() % 40);
        for (int p = 0; p < npaths; p++) {
            uint32_t path = paths[p];
            // Array form, out of place and in place; decrypt back.
            hwk_xts_encrypt_lines(path, &xk, src, dst, seqs, n);
            CHECK(memcmp(dst, ref, n * 64) == 0, "lines enc path %u kl %zu n %zu", path, kl, n);
            memcpy(tmp, src, n * 64);
            hwk_xts_encrypt_lines(path, &xk, tmp, tmp, seqs, n);
            CHECK(memcmp(tmp, ref, n * 64) == 0, "lines enc in place path %u", path);
            hwk_xts_decrypt_lines(path, &xk, tmp, tmp, seqs, n);
            CHECK(memcmp(tmp, src, n * 64) == 0, "lines dec in place path %u kl %zu n %zu", path, kl, n);
            hwk_xts_decrypt_lines(path, &xk, ref, dst, seqs, n);
            CHECK(memcmp(dst, src, n * 64) == 0, "lines dec path %u", path);
            // IOV form: reversed order into scattered destinations.
            for (size_t l = 0; l < n; l++) {
                ios[l].src = src + 64 * (n - 1 - l);
                ios[l].dst = dst + 64 * (n - 1 - l);
                ios[l].seq = seqs[n - 1 - l];
            }
            memset(dst, 0, n * 64);
            hwk_xts_encrypt_lines_iov(path, &xk, ios, n);
            CHECK(memcmp(dst, ref, n * 64) == 0, "iov enc path %u", path);
            for (size_t l = 0; l < n; l++) ios[l].src = dst + 64 * (n - 1 - l);
            hwk_xts_decrypt_lines_iov(path, &xk, ios, n);
            CHECK(memcmp(dst, src, n * 64) == 0, "iov dec path %u", path);
            // Consecutive form, wrapping modulo 2^64.
            hwk_xts_encrypt_lines_seq(path, &xk, src, dst, first, n);
            for (size_t l = 0; l < n; l++) {
                uint8_t t[16], one[64];
                seq_tweak(first + l, t);
                ossl_xts(key, kl, t, src + 64 * l, one, 64, 1);
                CHECK(memcmp(dst + 64 * l, one, 64) == 0, "seq enc path %u l %zu", path, l);
            }
            hwk_xts_decrypt_lines_seq(path, &xk, dst, dst, first, n);
            CHECK(memcmp(dst, src, n * 64) == 0, "seq dec path %u", path);
        }
        // Data units of random length (with stealing), raw tweaks and sequence numbers.
        size_t ul = 16 + (size_t)(rnd() % 600);
        if (iter % 5 == 0) ul = 4096;
        if (iter % 11 == 0) ul = 64;
        size_t nu = 1 + (size_t)(rnd() % 10);
        if (ul * nu > sizeof src) nu = sizeof src / ul;
        uint8_t tweaks[16 * 16];
        fill(tweaks, sizeof tweaks);
        fill(src, ul * nu);
        for (size_t u = 0; u < nu; u++) ossl_xts(key, kl, tweaks + 16 * u, src + ul * u, ref + ul * u, ul, 1);
        for (int p = 0; p < npaths; p++) {
            uint32_t path = paths[p];
            hwk_xts_encrypt_units(path, &xk, src, dst, ul, nu, tweaks);
            CHECK(memcmp(dst, ref, ul * nu) == 0, "units enc path %u ul %zu nu %zu", path, ul, nu);
            hwk_xts_decrypt_units(path, &xk, dst, dst, ul, nu, tweaks);
            CHECK(memcmp(dst, src, ul * nu) == 0, "units dec in place path %u ul %zu", path, ul);
            hwk_xts_encrypt_units_seq(path, &xk, src, dst, ul, nu, first);
            for (size_t u = 0; u < nu; u++) {
                uint8_t t[16];
                seq_tweak(first + u, t);
                ossl_xts(key, kl, t, src + ul * u, tmp, ul, 1);
                CHECK(memcmp(dst + ul * u, tmp, ul) == 0, "units seq enc path %u ul %zu", path, ul);
            }
            hwk_xts_decrypt_units_seq(path, &xk, dst, tmp, ul, nu, first);
            CHECK(memcmp(tmp, src, ul * nu) == 0, "units seq dec path %u ul %zu", path, ul);
        }
        // ECB against OpenSSL.
        size_t nb = (size_t)(rnd() % 100);
        fill(src, nb * 16);
        {
            EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
            int outl;
            EVP_EncryptInit_ex(ctx, kl == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb(), NULL, key, NULL);
            EVP_CIPHER_CTX_set_padding(ctx, 0);
            EVP_EncryptUpdate(ctx, ref, &outl, src, (int)(nb * 16));
            EVP_CIPHER_CTX_free(ctx);
        }
        for (int p = 0; p < npaths; p++) {
            hwk_aes_encrypt_blocks(paths[p], &xk.data, src, dst, nb);
            CHECK(memcmp(dst, ref, nb * 16) == 0, "ecb enc path %u nb %zu", paths[p], nb);
            hwk_aes_decrypt_blocks(paths[p], &xk.data, dst, dst, nb);
            CHECK(memcmp(dst, src, nb * 16) == 0, "ecb dec path %u", paths[p]);
        }
    }
    // Tweak helpers against the unit engine: E_K2(i) * alpha^j is what XTS uses for block j.
    uint8_t t0[16], seq[16 * 40], x[16 * 40], y[16 * 40];
    fill(t0, 16);
    hwk_xts_tweak_sequence(t0, seq, 40);
    for (int j = 0; j < 40; j++) {
        uint8_t t[16];
        memcpy(t, t0, 16);
        for (int k = 0; k < j; k++) {
            int carry = t[15] >> 7;
            for (int b = 15; b > 0; b--) t[b] = (uint8_t)((t[b] << 1) | (t[b - 1] >> 7));
            t[0] = (uint8_t)(t[0] << 1) ^ (carry ? 0x87 : 0);
        }
        CHECK(memcmp(seq + 16 * j, t, 16) == 0, "tweak sequence %d", j);
    }
    fill(x, sizeof x);
    for (size_t n = 0; n < sizeof x; n += 37) {
        hwk_xor_bytes(y, x, seq, n);
        for (size_t k = 0; k < n; k++) CHECK(y[k] == (x[k] ^ seq[k]), "xor %zu", n);
    }
    printf("check: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const char *name;
    uint32_t path;
    size_t kl;
    int kind; // 0 lines array (bufsize/64 lines per call), 1 units 4k, 2 openssl xts (bufsize), 3 ecb
    int dec;
    size_t bufsize;
} bench_t;

static _Alignas(64) uint8_t bsrc[16384 + 64], bdst[16384 + 64];
static uint64_t bseqs[256];
static uint8_t bkey[64];
static hwk_xts_key bxk;
static EVP_CIPHER_CTX *bctx[2][2]; // [kl==32][dec]

static void run_once(const bench_t *b, uint64_t iter) {
    switch (b->kind) {
    case 0: {
        for (int l = 0; l < 256; l++) bseqs[l] = iter * 256 + l;
        const size_t per = b->bufsize ? b->bufsize / 64 : 256;
        for (size_t off = 0; off < 256; off += per) {
            if (b->dec)
                hwk_xts_decrypt_lines(b->path, &bxk, bsrc + 64 * off, bdst + 64 * off, bseqs + off, per);
            else
                hwk_xts_encrypt_lines(b->path, &bxk, bsrc + 64 * off, bdst + 64 * off, bseqs + off, per);
        }
        break;
    }
    case 1:
        if (b->dec)
            hwk_xts_decrypt_units_seq(b->path, &bxk, bsrc, bdst, 4096, 4, iter * 4);
        else
            hwk_xts_encrypt_units_seq(b->path, &bxk, bsrc, bdst, 4096, 4, iter * 4);
        break;
    case 2: {
        EVP_CIPHER_CTX *ctx = bctx[b->kl == 32][b->dec];
        int outl;
        uint8_t iv[16] = {0};
        memcpy(iv, &iter, 8);
        for (size_t off = 0; off < 16384; off += b->bufsize) {
            EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1);
            EVP_CipherUpdate(ctx, bdst + off, &outl, bsrc + off, (int)b->bufsize);
        }
        break;
    }
    case 3:
        if (b->dec)
            hwk_aes_decrypt_blocks(b->path, &bxk.data, bsrc, bdst, 1024);
        else
            hwk_aes_encrypt_blocks(b->path, &bxk.data, bsrc, bdst, 1024);
        break;
    }
}

static void setup_bench(size_t kl) {
    fill(bkey, 64);
    fill(bsrc, sizeof bsrc);
    hwk_xts_expand(&bxk, bkey, bkey + kl, kl);
    for (int k = 0; k < 2; k++)
        for (int d = 0; d < 2; d++) {
            if (!bctx[k][d]) bctx[k][d] = EVP_CIPHER_CTX_new();
            EVP_CipherInit_ex(bctx[k][d], k ? EVP_aes_256_xts() : EVP_aes_128_xts(), NULL, bkey, NULL, !d);
        }
}

/// GB/s of each benchmark, measured in alternating slices of 20 ms: the mean over all slices and
/// the best slice (robust against preemption on a shared machine). Ratios are against the last.
static void bench_group(bench_t *bs, int n, double seconds) {
    double total[16] = {0}, bytes[16] = {0}, best[16] = {0};
    for (int i = 0; i < n; i++) run_once(&bs[i], 0); // warm up
    const double slice = 0.02;
    uint64_t iter = 1;
    for (double spent = 0; spent < seconds; spent += slice * n) {
        for (int i = 0; i < n; i++) {
            double t0 = now(), t1;
            uint64_t k = 0;
            do {
                run_once(&bs[i], iter++);
                k++;
            } while ((t1 = now()) - t0 < slice);
            total[i] += t1 - t0;
            bytes[i] += k * 16384.0;
            double gbps = k * 16384.0 / (t1 - t0) / 1e9;
            if (gbps > best[i]) best[i] = gbps;
        }
    }
    const double mean_ref = bytes[n - 1] / total[n - 1] / 1e9, best_ref = best[n - 1];
    for (int i = 0; i < n; i++) {
        const double mean = bytes[i] / total[i] / 1e9;
        printf("  %-26s mean %6.2f GB/s (x%.2f)   best %6.2f GB/s (x%.2f)\n", bs[i].name, mean, mean / mean_ref,
               best[i], best[i] / best_ref);
    }
}

int main(int argc, char **argv) {
    uint32_t sup = hwk_supported_paths();
    if (sup & HWK_PATH_AESNI) paths[npaths++] = HWK_PATH_AESNI;
    if (sup & HWK_PATH_VAES) paths[npaths++] = HWK_PATH_VAES;
    const char *cmd = argc > 1 ? argv[1] : "check";
    if (!strcmp(cmd, "check")) {
        check_all();
        return failures != 0;
    }
    if (!strcmp(cmd, "bench")) {
        double secs = argc > 2 ? atof(argv[2]) : 2.0;
        for (int k = 0; k < 2; k++) {
            size_t kl = k ? 32 : 16;
            setup_bench(kl);
            const char *bits = k ? "256" : "128";
            for (int d = 0; d < 2; d++) {
                printf("AES-%s %s\n", bits, d ? "decrypt" : "encrypt");
                bench_t group[] = {
                    {"lines aesni (16K/call)", HWK_PATH_AESNI, kl, 0, d, 0},
                    {"lines vaes (16K/call)", HWK_PATH_VAES, kl, 0, d, 0},
                    {"units 4K aesni", HWK_PATH_AESNI, kl, 1, d, 0},
                    {"units 4K vaes", HWK_PATH_VAES, kl, 1, d, 0},
                    {"openssl xts 64B", 0, kl, 2, d, 64},
                    {"openssl xts 16K", 0, kl, 2, d, 16384},
                };
                bench_group(group, 6, secs);
            }
        }
        setup_bench(16);
        printf("AES-128 encrypt, small calls\n");
        bench_t small[] = {
            {"lines aesni 1/call", HWK_PATH_AESNI, 16, 0, 0, 64},   {"lines vaes 1/call", HWK_PATH_VAES, 16, 0, 0, 64},
            {"lines aesni 4/call", HWK_PATH_AESNI, 16, 0, 0, 256},  {"lines vaes 4/call", HWK_PATH_VAES, 16, 0, 0, 256},
            {"lines aesni 8/call", HWK_PATH_AESNI, 16, 0, 0, 512},  {"lines vaes 8/call", HWK_PATH_VAES, 16, 0, 0, 512},
            {"lines aesni 16/call", HWK_PATH_AESNI, 16, 0, 0, 1024},  {"lines vaes 16/call", HWK_PATH_VAES, 16, 0, 0, 1024},
            {"openssl xts 64B", 0, 16, 2, 0, 64},
        };
        bench_group(small, 9, secs);
        printf("ECB AES-128 encrypt 16K\n");
        bench_t ecb[] = {{"ecb aesni", HWK_PATH_AESNI, 16, 3, 0, 0}, {"ecb vaes", HWK_PATH_VAES, 16, 3, 0, 0}};
        bench_group(ecb, 2, secs / 2);
        return 0;
    }
    if (!strcmp(cmd, "callgrind") && argc > 2) {
        // 1 MiB of work per run; pass the path as the third argument (1 = AES-NI, 2 = VAES).
        uint32_t path = argc > 3 ? (uint32_t)atoi(argv[3]) : HWK_PATH_VAES;
        const char *m = argv[2];
        size_t kl = strstr(m, "256") ? 32 : 16;
        setup_bench(kl);
        bench_t b = {m, path, kl, 0, 0, 16384};
        if (!strncmp(m, "units4k", 7)) b.kind = 1;
        if (!strncmp(m, "openssl", 7)) b.kind = 2;
        for (uint64_t i = 0; i < 64; i++) run_once(&b, i);
        return 0;
    }
    fprintf(stderr, "usage: %s check | bench [seconds] | callgrind MODE [path]\n", argv[0]);
    return 2;
}
