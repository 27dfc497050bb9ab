/* The SIMD selector: scalar is always there, unknown names are refused, the active path is
 * one of the available ones. */
#include <stdio.h>
#include <string.h>

#include "percepnet.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)

int main(void)
{
    CHECK(strstr(pn_simd_available(), "scalar") != NULL);
    CHECK(strstr(pn_simd_available(), pn_simd_active()) != NULL);
    CHECK(pn_simd_select("no-such-isa") == PN_ERR_SIMD);
    CHECK(pn_simd_select(NULL) == PN_ERR_ARG);
    CHECK(pn_simd_select("scalar") == PN_OK);
    CHECK(strcmp(pn_simd_active(), "scalar") == 0);
    printf("ok: available %s\n", pn_simd_available());
    return 0;
}
