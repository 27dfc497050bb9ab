/* The two limits `edge bench` sets the network's MAC rate against, measured in the calling
 * process on this CPU: the matrix-vector kernel's peak with its weights resident in L1 (int8,
 * and int4 for models exported with int4 weights), and the read bandwidth of a buffer the size
 * of a model's weights. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnet.h"
#include "percepnet.h"
#include "simd.h"

/* 64 rows x 256 columns: 16 KB of weights, half of the smallest L1 data cache of the boards
 * and hosts here (32 KB), with room for x and y; 64 rows take the 32-row path where one is. */
#define PEAK_ROWS 64
#define PEAK_COLS 256
#define PEAK_CALLS 256  /* matvec calls per timed pass */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int pn_bench_matvec_peak(double seconds, double *macs_per_s)
{
    if (!macs_per_s || !(seconds > 0.0))
        return PN_ERR_ARG;
    const pn_nnet_ops *ops = pn_nnet_ops_for(pn_simd_level_active());
    if (!ops)
        return PN_ERR_SIMD;
    const pn_matvec_fn matvec = ops->matvec;
    static int8_t w[PEAK_ROWS * PEAK_COLS], x[PEAK_COLS];
    static int32_t y[PEAK_ROWS];
    for (int i = 0; i < PEAK_ROWS * PEAK_COLS; i++)
        w[i] = (int8_t)(i * 37 % 255 - 127);
    for (int i = 0; i < PEAK_COLS; i++)
        x[i] = (int8_t)(i * 11 % 255 - 127);
    double best = 0.0, end = now_s() + seconds;
    do {  /* the best pass: the others lost time to the machine, not to the kernel */
        double t0 = now_s();
        for (int k = 0; k < PEAK_CALLS; k++)
            matvec(w, PEAK_ROWS, PEAK_COLS, x, y);
        double rate = (double)PEAK_CALLS * PEAK_ROWS * PEAK_COLS / (now_s() - t0);
        best = rate > best ? rate : best;
    } while (now_s() < end);
    *macs_per_s = best;
    return PN_OK;
}

int pn_bench_matvec4_peak(double seconds, double *macs_per_s)
{
    if (!macs_per_s || !(seconds > 0.0))
        return PN_ERR_ARG;
    const pn_nnet_ops *ops = pn_nnet_ops_for(pn_simd_level_active());
    if (!ops)
        return PN_ERR_SIMD;
    const pn_matvec4_fn matvec = ops->matvec4;
    /* the same rows and columns as the int8 peak: 8 KB of int4 weights and 512 multipliers */
    static int8_t w[PEAK_ROWS * PEAK_COLS / 2], x[PEAK_COLS];
    static uint8_t mul[PEAK_ROWS * PEAK_COLS / PN_Q4_BLOCK];
    static int32_t y[PEAK_ROWS];
    for (int i = 0; i < PEAK_ROWS * PEAK_COLS / 2; i++)
        w[i] = (int8_t)(i * 37 % 256 - 128);
    for (int i = 0; i < PEAK_ROWS * PEAK_COLS / PN_Q4_BLOCK; i++)
        mul[i] = (uint8_t)(i * 13 % 255 + 1);
    for (int i = 0; i < PEAK_COLS; i++)
        x[i] = (int8_t)(i * 11 % 255 - 127);
    double best = 0.0, end = now_s() + seconds;
    do {
        double t0 = now_s();
        for (int k = 0; k < PEAK_CALLS; k++)
            matvec(w, mul, PEAK_ROWS, PEAK_COLS, x, y);
        double rate = (double)PEAK_CALLS * PEAK_ROWS * PEAK_COLS / (now_s() - t0);
        best = rate > best ? rate : best;
    } while (now_s() < end);
    *macs_per_s = best;
    return PN_OK;
}

int pn_bench_read_bandwidth(size_t bytes, double seconds, double *bytes_per_s)
{
    if (!bytes_per_s || bytes < 64 || !(seconds > 0.0))
        return PN_ERR_ARG;
    size_t n = bytes / sizeof(uint64_t);
    uint64_t *buf;
    if (posix_memalign((void **)&buf, 64, n * sizeof *buf) != 0)
        return PN_ERR_NOMEM;
    memset(buf, 1, n * sizeof *buf);
    volatile uint64_t sink = 0;  /* keeps the sums, so the reads happen */
    double best = 0.0, end = now_s() + seconds;
    do {
        double t0 = now_s();
        /* four independent sums: the loop vectorises and is bound by the loads */
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i + 4 <= n; i += 4) {
            s0 += buf[i];
            s1 += buf[i + 1];
            s2 += buf[i + 2];
            s3 += buf[i + 3];
        }
        sink += s0 + s1 + s2 + s3;
        double rate = (double)(n & ~(size_t)3) * sizeof *buf / (now_s() - t0);
        best = rate > best ? rate : best;
    } while (now_s() < end);
    free(buf);
    *bytes_per_s = best;
    return PN_OK;
}
