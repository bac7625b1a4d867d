/* example.c: a C program that runs ilusm (build: make embed; run: build/embed_example).
 * It evaluates snippets, defines and calls an ilusm function, shows how errors
 * come back, lets ilusm call a C function, and survives an ilusm sys.exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ilusm.h"

/* A C function for ilusm: the sum of its two numbers, as JSON. */
static char *c_add(void *ud, const char *args_json) {
    long a = 0, b = 0;
    sscanf(args_json, "[%ld, %ld]", &a, &b);
    char *out = malloc(32);
    snprintf(out, 32, "%ld", a + b + *(long *)ud);
    return out;
}

/* Run one snippet and print its status and result. */
static void show(ilusm *vm, const char *src) {
    char *result = NULL;
    ilusm_status s = ilusm_eval(vm, src, &result);
    printf("eval rc=%d -> %s\n", (int)s, result);
    fflush(stdout);
    ilusm_str_free(result);
}

int main(void) {
    ilusm *vm = ilusm_new(NULL);
    if (vm == NULL) {
        fprintf(stderr, "cannot start ilusm\n");
        return 1;
    }
    printf("ilusm %s\n", ilusm_version());
    show(vm, "use trl\ntrl.sum(trl.map(1..10, \\(x) x * x))");
    show(vm, "sum_sq(xs) = trl.sum(trl.map(xs, \\(x) x * x))");
    char *result = NULL;
    ilusm_status s = ilusm_call(vm, "sum_sq", "[[1, 2, 3]]", &result);
    printf("call rc=%d -> %s\n", (int)s, result);
    ilusm_str_free(result);
    show(vm, "{name: \"ibot\", tags: [\"a\", tru, nil, 2.5]}");
    show(vm, "err(\"boom\")");
    show(vm, "x = (");
    long bonus = 100;
    ilusm_register(vm, "c_add", 2, c_add, &bonus);
    show(vm, "c_add(40, 2)");
    show(vm, "use sys\nsys.exit(7)");
    show(vm, "\"still running\"");
    ilusm_free(vm);
    return 0;
}
