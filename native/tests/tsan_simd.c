/* Run under ThreadSanitizer by tests/test_simd_threads.py (not one of the per-board C tests):
 * threads ask for the SIMD path while another selects one. Selection must be initialised
 * before any of them runs (at load) and read atomically: TSan reports any data race. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "percepnet.h"

#define THREADS 4

static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        if (!strstr(pn_simd_available(), pn_simd_active()))
            return (void *)1;
    }
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    int bad = pn_simd_select("scalar") != PN_OK;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    printf("%s\n", bad ? "FAIL: active path not among the available ones" : "ok");
    return bad;
}
