/*
 * evil-worker.c: a compromised network worker for t/worker/evil.sh. The
 * authority execs it as worker 0 (MANDOSD_TEST_WORKER0) with a worker's
 * command line; it reports in like a worker, then sends what EVIL_MODE
 * says, and drains the channel until it is ended.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"

static int	 ch = -1;

/* Stopped like a worker at shutdown: a clean exit. */
static void
on_term(int sig)
{
	_exit(0);
}

static void
put(const void *buf, size_t len)
{
	if (write(ch, buf, len) != (ssize_t)len) {
		perror("evil-worker: write");
		exit(1);
	}
}

static void
send_msg(struct msg *m)
{
	static uint8_t	 buf[MSG_FRAME_MAX];

	put(buf, msg_encode(m, buf));
}

static void
lookup(uint64_t id)
{
	struct msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_LOOKUP;
	m.reqid = id;
	memset(m.u.lookup.keyid, 0x5a, KEYID_LEN);	/* a key nobody has */
	m.u.lookup.peer.family = 6;
	send_msg(&m);
}

static void
done(uint64_t id, int result, int has_keyid)
{
	struct msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_DONE;
	m.reqid = id;
	m.u.done.result = (uint8_t)result;
	m.u.done.has_keyid = (uint8_t)has_keyid;
	m.u.done.peer.family = 6;
	send_msg(&m);
}

int
main(int argc, char **argv)
{
	const char	*mode = getenv("EVIL_MODE");
	struct msg	 m;
	uint8_t		 b[4096];
	long		 maxc = 1000;
	sigset_t	 stop;
	int		 i;

	for (i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--worker") == 0)
			ch = atoi(argv[i + 1]);
		if (strcmp(argv[i], "--max-connections") == 0)
			maxc = atol(argv[i + 1]);
	}
	if (ch < 0 || mode == NULL) {
		fprintf(stderr, "usage: EVIL_MODE=... evil-worker --worker FD,N\n");
		return (2);
	}
	signal(SIGTERM, on_term);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &stop, NULL);
	memset(&m, 0, sizeof(m));
	m.type = MSG_STATS;
	send_msg(&m);			/* "accepting" */
	if (strcmp(mode, "garbage") == 0) {
		for (i = 0; i < (int)sizeof(b); i++)
			b[i] = (uint8_t)(i * 7 + 3);
		put(b, sizeof(b));
	} else if (strcmp(mode, "version") == 0) {
		memset(&m, 0, sizeof(m));
		m.type = MSG_STATS;
		send_msg(&m);
		/* the same frame with version 2 */
		memset(b, 0, 44);
		b[1] = MSG_STATS;
		b[3] = 2;
		b[7] = 28;
		put(b, 44);
	} else if (strcmp(mode, "oversize") == 0) {
		memset(b, 0, 16);
		b[1] = MSG_DONE;
		b[3] = 1;
		b[4] = 0x40;		/* 1 GiB body */
		b[15] = 1;
		put(b, 16);
	} else if (strcmp(mode, "truncated") == 0) {
		memset(b, 0, 16);
		b[1] = MSG_STATS;
		b[3] = 1;
		b[7] = 29;		/* STATS is exactly 28 */
		put(b, 16 + 29);
	} else if (strcmp(mode, "unparked") == 0) {
		done(99, 1, 1);		/* an end for an id never parked */
	} else if (strcmp(mode, "secret") == 0) {
		lookup(5);		/* refused: unknown key */
		done(5, 0, 1);		/* ...but "secret sent" */
	} else if (strcmp(mode, "twice") == 0) {
		lookup(5);
		lookup(5);
	} else if (strcmp(mode, "flood") == 0) {
		for (i = 1; i <= maxc + 1; i++)
			lookup((uint64_t)i);
	} else if (strcmp(mode, "backwards") == 0) {
		m.type = MSG_STATS;
		m.u.stats.accepted = 10;
		send_msg(&m);
		m.u.stats.accepted = 9;
		send_msg(&m);
	} else if (strcmp(mode, "answer") == 0) {
		memset(&m, 0, sizeof(m));	/* a type only the authority sends */
		m.type = MSG_WAIT;
		m.reqid = 1;
		send_msg(&m);
	} else {
		fprintf(stderr, "evil-worker: unknown mode %s\n", mode);
		return (2);
	}
	/* Read whatever comes until the authority ends us. */
	for (i = 0; i < 600; i++)
		if (read(ch, b, sizeof(b)) <= 0)
			sleep(1);
	return (0);
}
