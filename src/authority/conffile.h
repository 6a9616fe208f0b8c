/* conffile.h: the server settings of mandos.conf, as command-line options. */
#ifndef MANDOSD_CONFFILE_H
#define MANDOSD_CONFFILE_H

#include <getopt.h>

#define CONF_DEFAULT_NAME	"mandos.conf"	/* in --configdir */

/*
 * Find --config / --configdir in argv (parsed with opts and shortopts),
 * read that file and give back a new argv: argv[0], the file's settings
 * as long options, then the rest of argv, so the command line wins.
 * A missing file is fine unless --config named it. -1 with *errstr
 * ("FILE:LINE: KEY: why"); warnings go to stderr.
 */
int	 conf_merge(int *argcp, char ***argvp, const struct option *opts,
	    const char *shortopts, char **errstr);

/* The file read by the last conf_merge, or NULL if there was none. */
const char *conf_path(void);

#endif
