/* duration.c: parse and print the two duration notations Mandos configs use. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

#define MS_S	1000ULL
#define MS_M	(60 * MS_S)
#define MS_H	(60 * MS_M)
#define MS_D	(24 * MS_H)
#define MS_W	(7 * MS_D)
#define MS_MAX	DURATION_MAX_MS	/* a century is long enough for any lease */

static int	 duration_number(const char **, uint64_t *, uint64_t *, int *);

/*
 * Read digits and an optional fraction at *p: whole part in *whole, the
 * fraction as milliseconds in *frac_ms (only meaningful for seconds).
 */
static int
duration_number(const char **p, uint64_t *whole, uint64_t *frac_ms, int *has_frac)
{
	const char	*s = *p;
	uint64_t	 w = 0, f = 0, scale = 100;

	if (!isdigit((unsigned char)*s))
		return (-1);
	while (isdigit((unsigned char)*s)) {
		if (w > MS_MAX)
			return (-1);
		w = w * 10 + (uint64_t)(*s++ - '0');
	}
	*has_frac = 0;
	if (*s == '.' || *s == ',') {
		s++;
		if (!isdigit((unsigned char)*s))
			return (-1);
		*has_frac = 1;
		for (; isdigit((unsigned char)*s); s++) {
			f += (uint64_t)(*s - '0') * scale;
			scale /= 10;
		}
	}
	*whole = w;
	*frac_ms = f;
	*p = s;
	return (0);
}

/* Multiply and add without passing MS_MAX. */
static int
duration_add(uint64_t *acc, uint64_t n, uint64_t unit)
{
	if (n > MS_MAX / unit || *acc + n * unit > MS_MAX)
		return (-1);
	*acc += n * unit;
	return (0);
}

/* RFC 3339 appendix A: P[nW] or P[nD][T[nH][nM][nS]]; years and months are ambiguous. */
static int
duration_parse_rfc3339(const char *s, uint64_t *ms, const char **errstr)
{
	uint64_t	 acc = 0, n, frac;
	int		 in_time = 0, any = 0, has_frac, last_rank = -1, rank;
	int		 weeks = 0;
	uint64_t	 unit;

	s++;				/* 'P' */
	while (*s != '\0') {
		if (*s == 'T') {
			if (in_time) {
				*errstr = "repeated 'T'";
				return (-1);
			}
			in_time = 1;
			s++;
			if (*s == '\0') {
				*errstr = "nothing after 'T'";
				return (-1);
			}
			continue;
		}
		if (duration_number(&s, &n, &frac, &has_frac) == -1) {
			*errstr = "expected a number";
			return (-1);
		}
		switch (*s) {
		case 'W': unit = MS_W; rank = 0; if (in_time) goto bad; break;
		case 'D': unit = MS_D; rank = 1; if (in_time) goto bad; break;
		case 'H': unit = MS_H; rank = 2; if (!in_time) goto bad; break;
		case 'M':
			if (!in_time) {
				*errstr = "months are not a fixed length";
				return (-1);
			}
			unit = MS_M; rank = 3; break;
		case 'S': unit = MS_S; rank = 4; if (!in_time) goto bad; break;
		case 'Y':
			*errstr = "years are not a fixed length";
			return (-1);
		default:
			goto bad;
		}
		if (weeks || (rank == 0 && any)) {
			/* RFC 3339's dur-week stands alone: "P1W", never "P1W1D". */
			*errstr = "weeks cannot be combined with other units";
			return (-1);
		}
		weeks = rank == 0;
		if (rank <= last_rank || (has_frac && unit != MS_S))
			goto bad;
		last_rank = rank;
		if (duration_add(&acc, n, unit) == -1 ||
		    (acc += frac) > MS_MAX) {
			*errstr = "too long";
			return (-1);
		}
		any = 1;
		s++;
	}
	if (!any) {
		*errstr = "empty duration";
		return (-1);
	}
	*ms = acc;
	return (0);
bad:
	*errstr = "not an RFC 3339 duration";
	return (-1);
}

/* The reference's notation: whitespace-separated "<n>[smhdw]" tokens, summed. */
static int
duration_parse_tokens(const char *s, uint64_t *ms, const char **errstr)
{
	uint64_t	 acc = 0, n, frac, unit;
	int		 any = 0, has_frac;

	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		if (duration_number(&s, &n, &frac, &has_frac) == -1) {
			*errstr = "expected a number";
			return (-1);
		}
		switch (*s) {
		case 's': unit = MS_S; break;
		case 'm': unit = MS_M; break;
		case 'h': unit = MS_H; break;
		case 'd': unit = MS_D; break;
		case 'w': unit = MS_W; break;
		default:
			*errstr = "a number needs a unit: s, m, h, d or w";
			return (-1);
		}
		s++;
		if (*s != '\0' && !isspace((unsigned char)*s)) {
			*errstr = "unexpected text after unit";
			return (-1);
		}
		if (has_frac && unit != MS_S) {
			*errstr = "fractions only for seconds";
			return (-1);
		}
		if (duration_add(&acc, n, unit) == -1 || (acc += frac) > MS_MAX) {
			*errstr = "too long";
			return (-1);
		}
		any = 1;
	}
	if (!any) {
		*errstr = "empty duration";
		return (-1);
	}
	*ms = acc;
	return (0);
}

int
duration_parse(const char *s, uint64_t *ms, const char **errstr)
{
	while (isspace((unsigned char)*s))
		s++;
	if (*s == 'P')
		return (duration_parse_rfc3339(s, ms, errstr));
	return (duration_parse_tokens(s, ms, errstr));
}

void
duration_format(uint64_t ms, char *buf, size_t len)
{
	uint64_t	 d = ms / MS_D, h = ms % MS_D / MS_H, m = ms % MS_H / MS_M;
	uint64_t	 s = ms % MS_M / MS_S, frac = ms % MS_S;
	int		 n = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	n += snprintf(buf + n, len - n, "P");
	if (d)
		n += snprintf(buf + n, len - n, "%lluD", (unsigned long long)d);
	if ((h || m || s || frac || !d) && (size_t)n < len)
		n += snprintf(buf + n, len - n, "T");
	if (h && (size_t)n < len)
		n += snprintf(buf + n, len - n, "%lluH", (unsigned long long)h);
	/* The grammar allows no gap: hours and seconds need the minutes between. */
	if ((m || (h && (s || frac))) && (size_t)n < len)
		n += snprintf(buf + n, len - n, "%lluM", (unsigned long long)m);
	if ((size_t)n < len && (s || frac || (!d && !h && !m))) {
		if (frac)
			snprintf(buf + n, len - n, "%llu.%03lluS",
			    (unsigned long long)s, (unsigned long long)frac);
		else
			snprintf(buf + n, len - n, "%lluS", (unsigned long long)s);
	}
}
