//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI run-time CPU detection (CPUID and XGETBV), computed once.
//
// HWK_PATH_AESNI needs CPUID.1:ECX[25] (AES) and ECX[19] (SSE4.1).
// HWK_PATH_VAES additionally needs CPUID.(EAX=7,ECX=0):ECX[9] (VAES), ECX[10] (VPCLMULQDQ),
// EBX[5] (AVX2), CPUID.1:ECX[28] (AVX) and ECX[27] (OSXSAVE), and XGETBV(0) bits 1 and 2: the OS
// saves XMM and YMM state (Intel SDM Vol. 1 §14.3, "Detection of Intel AVX Instructions").
// Every CPU with VAES (Ice Lake and later, Zen 3 and later) also has VPCLMULQDQ; the VAES path
// uses it to advance tweaks by alpha^16 in four instructions.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <stdatomic.h>
#include <string.h>

#if HWK_X86_64
#include <cpuid.h>

static uint64_t hwk_xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static uint32_t hwk_detect_paths(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    const int aes = (ecx >> 25) & 1, sse41 = (ecx >> 19) & 1;
    const int osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!aes || !sse41) return 0;
    uint32_t paths = HWK_PATH_AESNI;

    unsigned int max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf >= 7 && osxsave && avx) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        const int avx2 = (ebx >> 5) & 1, vaes = (ecx >> 9) & 1, vpclmul = (ecx >> 10) & 1;
        const int ymm_state = (hwk_xgetbv0() & 0x6) == 0x6;
        if (avx2 && vaes && vpclmul && ymm_state) paths |= HWK_PATH_VAES;
    }
    return paths;
}
#else
static uint32_t hwk_detect_paths(void) { return 0; }
#endif

/// Bit 31 marks "computed"; the race between two first callers is benign (both store the same value).
static _Atomic uint32_t hwk_paths_cache;

uint32_t hwk_supported_paths(void) {
    uint32_t cached = atomic_load_explicit(&hwk_paths_cache, memory_order_relaxed);
    if (cached & 0x80000000u) return cached & 0x7fffffffu;
    uint32_t paths = hwk_detect_paths();
    atomic_store_explicit(&hwk_paths_cache, paths | 0x80000000u, memory_order_relaxed);
    return paths;
}

void hwk_secure_zero(void *p, size_t n) {
    if (p == NULL || n == 0) return;
    memset(p, 0, n);
    // The barrier says the zeroed memory may be read through `p`, so the memset is never dead
    // (the same technique as BoringSSL's OPENSSL_cleanse).
    __asm__ volatile("" : : "r"(p) : "memory");
}
