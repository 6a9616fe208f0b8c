/* notify.c: the authority's notifier (see notify.h). */
#include "config.h"

#include <stddef.h>

#include "log.h"
#include "notify.h"

#define NOTIFY_MAX	8

static notify_fn	 notify_subs[NOTIFY_MAX];
static size_t		 notify_n;

void
notify_subscribe(notify_fn fn)
{
	if (notify_n == NOTIFY_MAX)
		fatalx("notify: too many subscribers");
	notify_subs[notify_n++] = fn;
}

void
notify_client(const char *name)
{
	size_t	 i;

	for (i = 0; i < notify_n; i++)
		notify_subs[i](name);
}
