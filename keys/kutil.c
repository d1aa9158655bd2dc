/*
 * kutil.c: shared helpers of ferry-keys (see kutil.h).
 */
#include "kutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "ferry.h"

/* The name ends in ${suf}. */
static int
ends(const char *name, const char *suf)
{
	size_t n = strlen(name), k = strlen(suf);

	return (n > k && strcmp(name + n - k, suf) == 0);
}

/*
 * ${dir} was given where a file is read: say it is a folder, and name
 * the files in it that could be meant (key files, key requests,
 * rosters; at most 4), rather than "input/output error".
 */
static void
folder_err(const char *dir)
{
	static const char *const sufs[] = { ".key", ".request", ".roster" };
	struct dirent *d;
	DIR *dp;
	size_t i, n = 0, seen = 0;

	fprintf(stderr, "ferry-keys: %s is a folder, not a file: give the "
	    "key file (ID.key), key request (ID.request) or roster file "
	    "itself", dir);
	if ((dp = opendir(dir)) != NULL) {
		/* Bounded: a folder of any size is read once. */
		while ((d = readdir(dp)) != NULL && seen++ < 100000) {
			for (i = 0; i < 3; i++)
				if (ends(d->d_name, sufs[i]))
					break;
			if (i == 3 || d->d_name[0] == '.')
				continue;
			if (n < 4)
				fprintf(stderr, "%s %s/%s", n == 0 ? ", e.g." :
				    ",", dir, d->d_name);
			n++;
		}
		closedir(dp);
	}
	fprintf(stderr, "\n");
}

void
kutil_owner_err(const char *path)
{
	char ub[1024], gb[1024], who[64], grp[64], dir[4096], *slash;
	struct passwd pw, *pr = NULL;
	struct group gr, *grr = NULL;
	struct stat st;

	/* The file is replaced by a new one written beside it and renamed
	 * over it: that needs the folder writable, whoever owns the file. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) != 0 && errno == EACCES) {
		if (getpwuid_r(geteuid(), &pw, ub, sizeof(ub), &pr) == 0 && pr)
			snprintf(who, sizeof(who), "%s", pw.pw_name);
		else
			snprintf(who, sizeof(who), "uid %lu",
			    (unsigned long)geteuid());
		fprintf(stderr, "ferry-keys: the folder %s is not writable by "
		    "this user (%s): %s is replaced atomically, by a new file "
		    "written in that folder and renamed over it, so the folder "
		    "must be writable; nothing was changed: make the folder "
		    "writable by %s, or run this as a user who may write it\n",
		    dir, who, path, who);
		return;
	}
	if (stat(path, &st) != 0) {
		kutil_err(path, FERRY_EACCES);
		return;
	}
	if (getpwuid_r(st.st_uid, &pw, ub, sizeof(ub), &pr) == 0 && pr)
		snprintf(who, sizeof(who), "%s", pw.pw_name);
	else
		snprintf(who, sizeof(who), "uid %lu", (unsigned long)st.st_uid);
	if (getgrgid_r(st.st_gid, &gr, gb, sizeof(gb), &grr) == 0 && grr)
		snprintf(grp, sizeof(grp), "%s", gr.gr_name);
	else
		snprintf(grp, sizeof(grp), "gid %lu", (unsigned long)st.st_gid);
	if (st.st_uid == geteuid()) {
		/* Our own file: the group is what cannot be kept. */
		fprintf(stderr, "ferry-keys: %s belongs to group %s, which "
		    "this user (%s) is not in: the rewritten file could not "
		    "keep that group; nothing was changed: run this as root, "
		    "or give the file a group of yours (chgrp)\n", path, grp,
		    who);
		return;
	}
	fprintf(stderr, "ferry-keys: %s belongs to %s (group %s): this user "
	    "cannot rewrite it keeping that owner, and the agent running as "
	    "%s must still read it; nothing was changed: run this as %s, or "
	    "as root\n", path, who, grp, who, who);
}

void
kutil_err(const char *what, int rc)
{
	struct stat st;

	char why[1024], who[64];

	switch (rc) {
	case FERRY_EPERM:
	case FERRY_EPASSPHRASE:
	case FERRY_ENOPASSPHRASE:
		/* Only key files are read with these checks. */
		ident_load_why(rc, what, why, sizeof(why));
		fprintf(stderr, "ferry-keys: %s%s\n", why, rc == FERRY_EPERM ?
		    "" : ": give --passphrase-file F or set FERRY_PASSPHRASE "
		    "(or run it on a terminal, to be asked)");
		return;
	case FERRY_EACCES:
		if (ferry_owner(what, who, sizeof(who)) == 0)
			fprintf(stderr, "ferry-keys: %s: permission denied (it, "
			    "or its folder, belongs to %s): run as that "
			    "user\n", what, who);
		else
			fprintf(stderr, "ferry-keys: %s: permission denied on "
			    "it or its folder: run as a user who may use it\n",
			    what);
		return;
	}
	if (rc == FERRY_EIO && stat(what, &st) == 0 && S_ISDIR(st.st_mode)) {
		folder_err(what);
		return;
	}
	fprintf(stderr, "ferry-keys: %s: %s\n", what, ferry_strerror(rc));
}

void
kutil_pass_err(const char *file, int rc)
{

	if (rc == FERRY_EPASSPHRASE)
		fprintf(stderr, "ferry-keys: the two passphrases typed "
		    "differ\n");
	else if (file != NULL && rc == FERRY_EPERM)
		fprintf(stderr, "ferry-keys: passphrase file %s is readable by "
		    "group or others: chmod 600 %s\n", file, file);
	else if (file != NULL && rc == FERRY_EINVAL)
		fprintf(stderr, "ferry-keys: passphrase file %s is empty, or "
		    "its first line is (the passphrase is the first line): "
		    "write the passphrase on its first line, or leave out "
		    "--passphrase-file; nothing was written\n", file);
	else if (file == NULL && rc == FERRY_EINVAL)
		fprintf(stderr, "ferry-keys: FERRY_PASSPHRASE is set but empty "
		    "(the passphrase is its first line): set it to the "
		    "passphrase, or unset it; nothing was written\n");
	else if (rc == FERRY_ETOOBIG)
		fprintf(stderr, "ferry-keys: the passphrase in %s is %d bytes "
		    "or longer: use a shorter one\n", file != NULL ? file :
		    "FERRY_PASSPHRASE", IDENT_PASS_MAX);
	else if (file != NULL)
		kutil_err(file, rc);
	else
		fprintf(stderr, "ferry-keys: passphrase: %s\n",
		    ferry_strerror(rc));
}

/*
 * The terminal while a passphrase is typed with echo off.  A signal that
 * stops or ends the process there (Ctrl-C, Ctrl-Z, kill, a hangup) must
 * not leave the person's terminal without echo, so its handler puts the
 * saved settings back and then lets the signal do what it would have
 * done (OpenBSD's readpassphrase does the same); after a stop, when the
 * process is continued, echo goes off again.  tcsetattr, sigaction,
 * sigprocmask, raise and write are async-signal-safe.
 */
static const int tty_sigs[] = { SIGINT, SIGTERM, SIGTSTP, SIGHUP, SIGQUIT };
#define TTY_NSIGS (sizeof(tty_sigs) / sizeof(tty_sigs[0]))
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_old, tty_noecho;
static struct sigaction tty_prev[TTY_NSIGS];

static void
tty_on_signal(int sig)
{
	struct sigaction sa, mine;
	sigset_t set;
	ssize_t w;
	int save = errno, fd = tty_fd;

	if (fd >= 0) {
		(void)tcsetattr(fd, TCSANOW, &tty_old);
		w = write(fd, "\n", 1);	/* a failure changes nothing here */
		(void)w;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(sig, &sa, &mine);
	sigemptyset(&set);
	sigaddset(&set, sig);
	(void)raise(sig);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* Only a stop comes back here: the others ended the process. */
	(void)sigaction(sig, &mine, NULL);
	if (fd >= 0)
		(void)tcsetattr(fd, TCSANOW, &tty_noecho);
	errno = save;
}

/* Catch those of tty_sigs that are not ignored; 0 or -1. */
static int
tty_catch(int fd)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_on_signal;
	sigemptyset(&sa.sa_mask);
	tty_fd = fd;
	for (i = 0; i < TTY_NSIGS; i++) {
		if (sigaction(tty_sigs[i], NULL, &tty_prev[i]) != 0)
			return (-1);
		if (tty_prev[i].sa_handler == SIG_IGN)
			continue;
		if (sigaction(tty_sigs[i], &sa, NULL) != 0)
			return (-1);
	}
	return (0);
}

/* The signal dispositions as they were before tty_catch. */
static void
tty_release(void)
{
	size_t i;

	for (i = 0; i < TTY_NSIGS; i++)
		if (tty_prev[i].sa_handler != SIG_IGN)
			(void)sigaction(tty_sigs[i], &tty_prev[i], NULL);
	tty_fd = -1;
}

/* Read one line from the terminal without echo. */
static int
tty_read(int fd, const char *prompt, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	char c;
	int rc = 0;

	if (write(fd, prompt, strlen(prompt)) < 0)
		return (FERRY_EIO);
	if (tcgetattr(fd, &tty_old) != 0)
		return (FERRY_EIO);
	tty_noecho = tty_old;
	tty_noecho.c_lflag &= ~(tcflag_t)ECHO;
	if (tty_catch(fd) != 0) {
		tty_release();
		return (FERRY_EIO);
	}
	if (tcsetattr(fd, TCSAFLUSH, &tty_noecho) != 0) {
		tty_release();
		return (FERRY_EIO);
	}
	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (n + 1 >= cap) {
			rc = FERRY_ETOOBIG;
			break;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	(void)tcsetattr(fd, TCSAFLUSH, &tty_old);
	tty_release();
	if (write(fd, "\n", 1) < 0)
		rc = FERRY_EIO;
	return (rc);
}

int
kutil_passphrase(const char *file, int prompt, int confirm, char **out)
{
	char *a = NULL, *b = NULL;
	const char *env;
	int fd, rc;

	*out = NULL;
	/* Given explicitly (a file, the variable): ident.h's rule, shared
	 * with the daemons; an empty one is an error (kutil_pass_err). */
	if (file != NULL)
		return (ident_passphrase_read(file, out));
	if ((env = getenv("FERRY_PASSPHRASE")) != NULL)
		return (ident_passphrase_parse(env, strlen(env), out));
	if (!prompt)
		return (0);
	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0) {
		if (confirm)
			fprintf(stderr, "ferry-keys: warning: no passphrase "
			    "(--passphrase-file, FERRY_PASSPHRASE) and no "
			    "terminal: the key file is written unsealed\n");
		return (0);
	}
	if ((a = sodium_malloc(IDENT_PASS_MAX)) == NULL ||
	    (b = sodium_malloc(IDENT_PASS_MAX)) == NULL) {
		rc = FERRY_ENOMEM;
		goto done;
	}
	a[0] = b[0] = '\0';
	if ((rc = tty_read(fd, confirm ? "New passphrase (empty for none): " :
	    "Passphrase: ", a, IDENT_PASS_MAX)) != 0)
		goto done;
	if (confirm && a[0] != '\0') {
		if ((rc = tty_read(fd, "Again: ", b, IDENT_PASS_MAX)) != 0)
			goto done;
		if (strcmp(a, b) != 0) {
			rc = FERRY_EPASSPHRASE;
			goto done;
		}
	}
	/* At the terminal an empty answer is a choice: no passphrase. */
	if (a[0] != '\0')
		rc = ident_passphrase_parse(a, strlen(a), out);
done:
	kutil_passphrase_free(a);
	kutil_passphrase_free(b);
	close(fd);
	return (rc);
}

void
kutil_passphrase_free(char *p)
{

	ident_passphrase_free(p);
}

int
kutil_load_ident(const char *path, const char *passfile, struct ident **out)
{
	char *pass = NULL;
	int rc, sealed;

	*out = NULL;
	if ((sealed = ident_is_sealed(path)) < 0) {
		kutil_err(path, sealed);
		return (sealed);
	}
	if (sealed && (rc = kutil_passphrase(passfile, 1, 0, &pass)) != 0) {
		kutil_pass_err(passfile, rc);
		return (rc);
	}
	if ((rc = ident_load(path, pass, out)) != 0)
		kutil_err(path, rc);
	kutil_passphrase_free(pass);
	return (rc);
}

int
kutil_read(const char *path, size_t max, uint8_t **buf, size_t *len)
{

	return (ferry_read_file(path, max, buf, len, 0));
}

int
kutil_load_roster(const char *path, struct roster **out)
{
	uint8_t *buf;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = kutil_read(path, ROSTER_MAX_BYTES, &buf, &len)) != 0)
		return (rc);
	rc = roster_parse(buf, len, out);
	free(buf);
	return (rc);
}

int
kutil_write_new(const char *path, const uint8_t *buf, size_t len, int mode)
{

	return (ferry_write_file_new(path, buf, len, mode));
}

int
kutil_save_roster(const struct roster *r, const char *path, int replace)
{
	const uint8_t *b;
	size_t n;
	int rc;

	if ((rc = roster_bytes(r, &b, &n)) != 0)
		return (rc);
	if (replace)
		return (ferry_write_file(path, b, n, 0644));
	return (kutil_write_new(path, b, n, 0644));
}

int
kutil_u64(const char *s, uint64_t *v)
{
	unsigned long long x;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return (-1);
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	*v = (uint64_t)x;
	return (0);
}

int
kutil_days(const char *s, uint64_t *ms)
{
	uint64_t d;

	if (kutil_u64(s, &d) != 0 || d > 100 * 366)
		return (-1);
	*ms = d * KUTIL_DAY_MS;
	return (0);
}

uint64_t
kutil_now(void)
{
#ifdef FERRY_FAULTS
	const char *s;
	uint64_t v;

	/* Test builds only: a release build's roster times are never
	 * taken from the environment. */
	if ((s = getenv("FERRY_KEYS_NOW_MS")) != NULL && kutil_u64(s, &v) == 0)
		return (v);
#endif
	return (ferry_now_ms());
}

int
kutil_path(char *buf, size_t cap, const char *dir, const char *name,
    const char *ext)
{
	int n;

	n = snprintf(buf, cap, "%s/%s%s", dir, name, ext);
	if (n < 0 || (size_t)n >= cap)
		return (-1);
	return (0);
}
