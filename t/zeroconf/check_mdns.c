/* check_mdns.c: the AvahiPoll adapter over libevent, and mdns without a bus. */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "log.h"
#include "mdns.h"

struct fx {
	struct event_base	*base;
	struct mdns_poll	*mp;
	const AvahiPoll		*api;
	int			 fd[2];
	int			 calls;
	AvahiWatchEvent		 seen;
	AvahiWatch		*w;
	AvahiTimeout		*t;
	struct timeval		 start, fired;
};

static struct fx	 f;

static void
setup(void)
{
	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	f.mp = mdns_poll_new(f.base);
	f.api = mdns_poll_get(f.mp);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, f.fd), 0);
	gettimeofday(&f.start, NULL);
}

static void
teardown(void)
{
	close(f.fd[0]);
	close(f.fd[1]);
	mdns_poll_free(f.mp);
	event_base_free(f.base);
}

/* Run the loop for at most ms milliseconds. */
static void
run(int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(f.base, &tv);
	event_base_dispatch(f.base);
}

/* Absolute Avahi time ms from now. */
static struct timeval
in_ms(int ms)
{
	struct timeval	 now, d = { ms / 1000, (ms % 1000) * 1000 }, r;

	gettimeofday(&now, NULL);
	timeradd(&now, &d, &r);
	return (r);
}

static void
watch_free_cb(AvahiWatch *w, int fd, AvahiWatchEvent e, void *arg)
{
	f.calls++;
	f.seen = f.api->watch_get_events(w);
	f.api->watch_free(w);	/* legal from its own callback */
	event_base_loopbreak(f.base);
}

START_TEST(test_watch_in)
{
	f.w = f.api->watch_new(f.api, f.fd[0], AVAHI_WATCH_IN, watch_free_cb,
	    NULL);
	ck_assert_ptr_nonnull(f.w);
	ck_assert_int_eq(write(f.fd[1], "x", 1), 1);
	run(1000);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.seen, AVAHI_WATCH_IN);
}
END_TEST

static void
watch_count_cb(AvahiWatch *w, int fd, AvahiWatchEvent e, void *arg)
{
	f.calls++;
	f.seen = e;
	f.api->watch_update(w, 0);	/* legal from its own callback */
}

START_TEST(test_watch_update)
{
	/* No events wanted: readable data must not call back. */
	f.w = f.api->watch_new(f.api, f.fd[0], 0, watch_count_cb, NULL);
	ck_assert_int_eq(write(f.fd[1], "x", 1), 1);
	run(100);
	ck_assert_int_eq(f.calls, 0);
	/* Writable: one call, after which the callback asked for nothing. */
	f.api->watch_update(f.w, AVAHI_WATCH_OUT);
	run(100);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.seen, AVAHI_WATCH_OUT);
	f.api->watch_update(f.w, AVAHI_WATCH_IN);
	run(100);
	ck_assert_int_eq(f.calls, 2);
	ck_assert_int_eq(f.seen, AVAHI_WATCH_IN);
	f.api->watch_free(f.w);
}
END_TEST

static void
timeout_cb(AvahiTimeout *t, void *arg)
{
	struct timeval	 tv;

	gettimeofday(&f.fired, NULL);
	if (++f.calls == 1 && arg != NULL) {
		tv = in_ms(20);
		f.api->timeout_update(t, &tv);	/* re-arm from callback */
	}
}

START_TEST(test_timeout_once)
{
	struct timeval	 tv = in_ms(50), d;

	f.t = f.api->timeout_new(f.api, &tv, timeout_cb, NULL);
	run(300);
	ck_assert_int_eq(f.calls, 1);	/* one-shot: disabled after expiry */
	timersub(&f.fired, &f.start, &d);
	ck_assert_int_ge(d.tv_sec * 1000 + d.tv_usec / 1000, 45);
	f.api->timeout_free(f.t);
}
END_TEST

START_TEST(test_timeout_rearm)
{
	struct timeval	 tv = in_ms(10);

	f.t = f.api->timeout_new(f.api, &tv, timeout_cb, &f);
	run(300);
	ck_assert_int_eq(f.calls, 2);
	f.api->timeout_free(f.t);
}
END_TEST

START_TEST(test_timeout_past_and_null)
{
	struct timeval	 past = in_ms(-5000);

	f.t = f.api->timeout_new(f.api, NULL, timeout_cb, NULL);
	run(50);
	ck_assert_int_eq(f.calls, 0);	/* NULL: disabled */
	f.api->timeout_update(f.t, &past);
	run(50);
	ck_assert_int_eq(f.calls, 1);	/* in the past: at once */
	f.api->timeout_update(f.t, &past);
	f.api->timeout_update(f.t, NULL);
	run(50);
	ck_assert_int_eq(f.calls, 1);	/* disarmed again */
	f.api->timeout_free(f.t);
}
END_TEST

START_TEST(test_timeout_free_pending)
{
	struct timeval	 tv = in_ms(10);

	f.t = f.api->timeout_new(f.api, &tv, timeout_cb, NULL);
	f.api->timeout_free(f.t);
	run(100);
	ck_assert_int_eq(f.calls, 0);
}
END_TEST

START_TEST(test_no_bus)
{
	struct mdns	*m;
	char		*errstr = NULL;

	/* No bus: not an error, a back-off retry; the loop stays idle. */
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus", 1);
	m = mdns_start(f.base, NULL, NULL, AF_UNSPEC, 22999, &errstr);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(mdns_name(m), "Mandos");
	run(300);
	ck_assert_int_eq(mdns_published(m), 0);
	mdns_stop(m);
}
END_TEST

START_TEST(test_bad_args)
{
	char	*errstr = NULL;
	char	 longname[100];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_ptr_null(mdns_start(f.base, longname, NULL, AF_UNSPEC, 1,
	    &errstr));
	ck_assert_ptr_nonnull(errstr);
	errstr = NULL;
	ck_assert_ptr_null(mdns_start(f.base, "Mandos", "nosuchif0",
	    AF_UNSPEC, 1, &errstr));
	ck_assert_ptr_nonnull(errstr);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("mdns");
	TCase	*tc = tcase_create("poll");
	SRunner	*sr;
	int	 failed;

	log_init("check_mdns", 1, 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_watch_in);
	tcase_add_test(tc, test_watch_update);
	tcase_add_test(tc, test_timeout_once);
	tcase_add_test(tc, test_timeout_rearm);
	tcase_add_test(tc, test_timeout_past_and_null);
	tcase_add_test(tc, test_timeout_free_pending);
	tcase_add_test(tc, test_no_bus);
	tcase_add_test(tc, test_bad_args);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
