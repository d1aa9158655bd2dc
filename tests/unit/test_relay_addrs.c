/*
 * test_relay_addrs.c: relay/addrs.c, open connections per peer IP
 * address: real loopback TCP connections from 127.0.0.1 and 127.0.0.9
 * (every 127/8 address is loopback on Linux), accepted and counted per
 * address; a close uncounts what the accept counted, also once the fd is
 * closed; a socket with no IP address (AF_UNIX) is not counted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/harness.h"
#include "relay.h"

/* A listener on 127.0.0.1 (an ephemeral port, in *${sin}). */
static int
listener(struct sockaddr_in *sin)
{
	socklen_t sl = sizeof(*sin);
	int s;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return (-1);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)sin, sizeof(*sin)) != 0 ||
	    listen(s, 16) != 0 ||
	    getsockname(s, (struct sockaddr *)sin, &sl) != 0) {
		close(s);
		return (-1);
	}
	return (s);
}

/* Connect from ${src} to ${to} and accept on ${ls}: the accepted fd. */
static int
conn_from(int ls, const struct sockaddr_in *to, const char *src, int *cfd)
{
	struct sockaddr_in a;

	if ((*cfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return (-1);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	if (inet_pton(AF_INET, src, &a.sin_addr) != 1 ||
	    bind(*cfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    connect(*cfd, (const struct sockaddr *)to, sizeof(*to)) != 0)
		return (-1);
	return (accept(ls, NULL, NULL));
}

TEST(counted_per_address)
{
	struct addrs *a = addrs_new(4096);
	struct sockaddr_in sin;
	int ls, c[4], s[4], u[2], i;
	char ip[64];

	CHECK(a != NULL);
	CHECK((ls = listener(&sin)) >= 0);
	CHECK((s[0] = conn_from(ls, &sin, "127.0.0.9", &c[0])) >= 0);
	CHECK((s[1] = conn_from(ls, &sin, "127.0.0.9", &c[1])) >= 0);
	CHECK((s[2] = conn_from(ls, &sin, "127.0.0.1", &c[2])) >= 0);
	CHECK((s[3] = conn_from(ls, &sin, "127.0.0.9", &c[3])) >= 0);
	CHECK_EQ(addrs_accepted(a, s[0], ip, sizeof(ip)), 1);
	CHECK(strcmp(ip, "127.0.0.9") == 0);
	CHECK_EQ(addrs_accepted(a, s[1], ip, sizeof(ip)), 2);
	CHECK_EQ(addrs_accepted(a, s[2], ip, sizeof(ip)), 1);
	CHECK(strcmp(ip, "127.0.0.1") == 0);
	/* Closed before its DISCONNECTED is read: uncounted all the same. */
	close(s[1]);
	addrs_closed(a, s[1]);
	addrs_closed(a, s[1]);		/* twice: no effect */
	CHECK_EQ(addrs_accepted(a, s[3], ip, sizeof(ip)), 2);
	addrs_closed(a, s[0]);
	addrs_closed(a, s[3]);
	addrs_closed(a, s[2]);
	/* Every address gone: a new one starts from 1. */
	CHECK_EQ(addrs_accepted(a, s[0], ip, sizeof(ip)), 1);
	/* No IP address, or out of range: not counted. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, u), 0);
	CHECK_EQ(addrs_accepted(a, u[0], ip, sizeof(ip)), 0);
	CHECK_EQ(addrs_accepted(a, 5000, ip, sizeof(ip)), 0);
	CHECK_EQ(addrs_accepted(a, -1, ip, sizeof(ip)), 0);
	addrs_closed(a, u[0]);
	addrs_free(a);		/* with one address still counted */
	for (i = 0; i < 4; i++) {
		close(c[i]);
		if (i != 1)
			close(s[i]);
	}
	close(u[0]);
	close(u[1]);
	close(ls);
}

int
main(void)
{

	t_init();
	RUN(counted_per_address);
	return (t_done());
}
