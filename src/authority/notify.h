/*
 * notify.h: one notifier inside the authority. The client code says that a
 * client's approval, enabled state or existence changed; whoever cares
 * (today the parked connections) subscribes, so data flows one way
 * instead of client.c calling the connection code by name.
 */
#ifndef MANDOSD_NOTIFY_H
#define MANDOSD_NOTIFY_H

typedef void	(*notify_fn)(const char *name);

void	 notify_subscribe(notify_fn);
/* Client name's gate may have changed (approved, denied, disabled, removed). */
void	 notify_client(const char *name);

#endif
