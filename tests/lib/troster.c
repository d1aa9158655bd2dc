/*
 * troster.c: a signed roster for tests and benches (troster.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "ferry.h"
#include "roster.h"
#include "troster.h"

#define YEAR (365ULL * 24 * 3600 * 1000)

/* ${i}'s key request added to ${r}: admin (0), relay (1) or agency (2). */
static int
add_request(struct roster *r, const struct ident *i, int which)
{
	uint8_t *req;
	size_t len;
	int rc;

	if ((rc = roster_request_make(i, ferry_now_ms(), &req, &len)) != 0)
		return (rc);
	if (which == 0)
		rc = roster_admin_add(r, req, len);
	else if (which == 1)
		rc = roster_relay_set(r, req, len, "tcp://127.0.0.1:1");
	else
		rc = roster_agency_add(r, req, len);
	free(req);
	return (rc);
}

int
troster_write(const char *path, const struct ident *admin,
    const struct ident *relay, const struct ident *const *agencies, size_t n,
    char pin[65])
{
	struct roster *r;
	const uint8_t *b;
	uint8_t h[32];
	uint64_t now = ferry_now_ms();
	size_t i, len;
	int rc;

	if ((rc = roster_new(now, now + YEAR, &r)) != 0)
		return (rc);
	if ((rc = add_request(r, admin, 0)) != 0 ||
	    (rc = roster_set_threshold(r, 1)) != 0 ||
	    (rc = add_request(r, relay, 1)) != 0)
		goto done;
	for (i = 0; i < n; i++)
		if ((rc = add_request(r, agencies[i], 2)) != 0)
			goto done;
	if ((rc = roster_seal(r)) != 0 ||
	    (rc = roster_sign(r, admin->sign_sk)) != 0 ||
	    (rc = roster_bytes(r, &b, &len)) != 0 ||
	    (rc = ferry_write_file(path, b, len, 0644)) != 0)
		goto done;
	roster_hash(r, h);
	ferry_hex(pin, h, 32);
done:
	roster_free(r);
	return (rc);
}
