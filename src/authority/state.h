/*
 * state.h: the state file (runtime state of every client), written
 * atomically soon after a change and at exit, read at start.
 */
#ifndef MANDOSD_STATE_H
#define MANDOSD_STATE_H

struct event_base;

/* dir NULL: no state file. */
void	 state_init(struct event_base *, const char *dir);
/* Apply the saved state to the clients in force; a bad file is a warning. */
void	 state_restore(void);
/* Something changed: save within about a second. */
void	 state_dirty(void);
/* Save now if anything changed (exit); -1 on failure (logged). */
int	 state_flush(void);
const char *state_path(void);
void	 state_shutdown(void);

#endif
