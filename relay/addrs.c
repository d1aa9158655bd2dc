/*
 * addrs.c: open connections counted per peer IP address, so that the
 * relay can refuse one address more than max_connections_per_address
 * (issue 13: a keyless stranger holding 2,000 sockets locked out
 * agencies).  Fed by the socket monitor's ACCEPTED and DISCONNECTED
 * events (loop.c), which name the connection's file descriptor: the
 * address is read at accept (getpeername) and remembered per fd, so the
 * disconnect uncounts exactly what the accept counted, even when the fd
 * is closed by then.  An IPv4-mapped IPv6 address counts as the IPv4
 * one; ipc:// connections have no address and are not counted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "relay.h"

#define ABUCKETS 1024

/* One address with connections open. */
struct addr {
	struct addr *next;		/* hash chain */
	int family;			/* AF_INET or AF_INET6 */
	uint8_t ip[16];			/* 4 or 16 bytes */
	size_t n;			/* connections open from it */
};

struct addrs {
	struct addr *tab[ABUCKETS];
	struct addr **byfd;		/* per fd: the address it counts */
	size_t nfd;
};

/** addrs_new(nfd): a table for connections on fds below ${nfd}. */
struct addrs *
addrs_new(size_t nfd)
{
	struct addrs *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return (NULL);
	if ((a->byfd = calloc(nfd, sizeof(a->byfd[0]))) == NULL) {
		free(a);
		return (NULL);
	}
	a->nfd = nfd;
	return (a);
}

/* The peer address of ${fd} into ${family}, ${ip}: 0, or -1 if none. */
static int
peer_ip(int fd, int *family, uint8_t ip[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return (-1);
	memset(ip, 0, 16);
	if (ss.ss_family == AF_INET) {
		*family = AF_INET;
		memcpy(ip, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
		return (0);
	}
	if (ss.ss_family != AF_INET6)
		return (-1);
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		*family = AF_INET;
		memcpy(ip, s6->sin6_addr.s6_addr + 12, 4);
	} else {
		*family = AF_INET6;
		memcpy(ip, s6->sin6_addr.s6_addr, 16);
	}
	return (0);
}

static unsigned
hash_ip(int family, const uint8_t ip[16])
{
	uint32_t h = 2166136261u ^ (uint32_t)family;
	size_t i;

	for (i = 0; i < 16; i++)
		h = (h ^ ip[i]) * 16777619u;
	return (h % ABUCKETS);
}

/* ${ip} as text, for log lines. */
static void
ip_text(int family, const uint8_t ip[16], char *out, size_t n)
{

	if (inet_ntop(family, ip, out, (socklen_t)n) == NULL)
		snprintf(out, n, "?");
}

/**
 * addrs_accepted(a, fd, text, n): connection ${fd} was accepted: its
 * peer's address counted, and written as text to ${text} (${n} bytes).
 * The connections now open from it, 0 if it has no address (ipc://, or
 * the fd is gone already) or ${fd} is out of range or memory is short.
 */
size_t
addrs_accepted(struct addrs *a, int fd, char *text, size_t n)
{
	struct addr *e;
	uint8_t ip[16];
	unsigned b;
	int family;

	if (fd < 0 || (size_t)fd >= a->nfd)
		return (0);
	addrs_closed(a, fd);	/* a DISCONNECTED we never saw */
	if (peer_ip(fd, &family, ip) != 0)
		return (0);
	b = hash_ip(family, ip);
	for (e = a->tab[b]; e != NULL; e = e->next)
		if (e->family == family && memcmp(e->ip, ip, 16) == 0)
			break;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return (0);
		e->family = family;
		memcpy(e->ip, ip, 16);
		e->next = a->tab[b];
		a->tab[b] = e;
	}
	e->n++;
	a->byfd[fd] = e;
	ip_text(family, ip, text, n);
	return (e->n);
}

/** addrs_closed(a, fd): connection ${fd} is gone: uncounted. */
void
addrs_closed(struct addrs *a, int fd)
{
	struct addr *e, **pp;

	if (fd < 0 || (size_t)fd >= a->nfd || (e = a->byfd[fd]) == NULL)
		return;
	a->byfd[fd] = NULL;
	if (--e->n > 0)
		return;
	for (pp = &a->tab[hash_ip(e->family, e->ip)]; *pp != e;
	    pp = &(*pp)->next)
		;
	*pp = e->next;
	free(e);
}

/** addrs_free(a): free ${a}; NULL ok. */
void
addrs_free(struct addrs *a)
{
	struct addr *e, *ne;
	size_t b;

	if (a == NULL)
		return;
	for (b = 0; b < ABUCKETS; b++)
		for (e = a->tab[b]; e != NULL; e = ne) {
			ne = e->next;
			free(e);
		}
	free(a->byfd);
	free(a);
}
