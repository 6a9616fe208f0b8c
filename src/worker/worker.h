/* worker.h: a network worker process (mandosd --worker FD,INDEX). */
#ifndef MANDOSD_WORKER_H
#define MANDOSD_WORKER_H

#include "msg.h"

int	 worker_main(int argc, char **argv);
/* Queue a message to the authority (MSG_LOOKUP, MSG_DONE). */
void	 worker_send(struct msg *);
/* Send the frames queued so far now (the loop sends them at the end of its round). */
void	 worker_flush(void);
/* The counters that travel to the authority. */
void	 worker_stats(struct msg_stats *);
/* Something counted changed: tell the authority soon. */
void	 worker_stats_changed(void);

#endif
