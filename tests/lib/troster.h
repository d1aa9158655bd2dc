/*
 * troster.h: a signed roster for tests and benches that run agents or a
 * relay in a temp folder (tests/lib/tagentd.c, tests/lib/trelay.c,
 * tests/bench/bench_pending.c).
 */
#ifndef FERRY_TROSTER_H
#define FERRY_TROSTER_H

#include <stddef.h>

#include "ident.h"

/**
 * troster_write(path, admin, relay, agencies, n, pin): write to ${path} a
 * version-1 roster valid for a year from now, signed by ${admin}
 * (threshold 1), naming ${relay} (endpoint tcp://127.0.0.1:1, never
 * dialled by these tests) and the ${n} agencies ${agencies}[0..n-1]; put
 * its hash in hex into ${pin} (an agent's roster_pin).  0 or the first
 * error.
 */
int troster_write(const char *path, const struct ident *admin,
    const struct ident *relay, const struct ident *const *agencies, size_t n,
    char pin[65]);

#endif
