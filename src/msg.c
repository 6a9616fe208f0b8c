/*
 * msg.c: framing of the worker<->authority channel. Big-endian fields at
 * fixed offsets; every body length is exact for its type (or bounded, for
 * a secret and a reason), every enum is range-checked, and a frame that is
 * not exactly right is an error: the caller then ends that worker.
 */
#include "config.h"

#include <netinet/in.h>
#include <string.h>

#include "msg.h"

#define PEER_LEN	19
#define STATS_LEN	28
#define LOOKUP_LEN	(KEYID_LEN + PEER_LEN)
#define SHARE_LEN	21	/* family, address, count */
#define DONE_FIXED	(1 + 1 + KEYID_LEN + PEER_LEN + 4 + 4 + STATS_LEN + 1)

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t
get16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)get16(p) << 16 | get16(p + 2));
}

static uint64_t
get64(const uint8_t *p)
{
	return ((uint64_t)get32(p) << 32 | get32(p + 4));
}

static uint8_t *
put_peer(uint8_t *p, const struct msg_peer *peer)
{
	p[0] = peer->family;
	put16(p + 1, peer->port);
	memcpy(p + 3, peer->addr, 16);
	return (p + PEER_LEN);
}

static int
get_peer(const uint8_t *p, struct msg_peer *peer)
{
	size_t	 i;

	peer->family = p[0];
	peer->port = get16(p + 1);
	memcpy(peer->addr, p + 3, 16);
	if (peer->family == 4) {
		for (i = 4; i < 16; i++)
			if (peer->addr[i] != 0)
				return (-1);
		return (0);
	}
	return (peer->family == 6 ? 0 : -1);
}

static uint8_t *
put_stats(uint8_t *p, const struct msg_stats *s)
{
	put64(p, s->accepted);
	put64(p + 8, s->accept_paused);
	put64(p + 16, s->refused_share);
	put32(p + 24, s->active);
	return (p + STATS_LEN);
}

static void
get_stats(const uint8_t *p, struct msg_stats *s)
{
	s->accepted = get64(p);
	s->accept_paused = get64(p + 8);
	s->refused_share = get64(p + 16);
	s->active = get32(p + 24);
}

size_t
msg_encode(const struct msg *m, uint8_t *out)
{
	uint8_t	*b = out + MSG_HDR_LEN, *p = b;
	size_t	 wl;

	switch (m->type) {
	case MSG_LOOKUP:
		memcpy(p, m->u.lookup.keyid, KEYID_LEN);
		p = put_peer(p + KEYID_LEN, &m->u.lookup.peer);
		break;
	case MSG_DONE:
		*p++ = m->u.done.result;
		*p++ = m->u.done.has_keyid;
		memcpy(p, m->u.done.keyid, KEYID_LEN);
		p = put_peer(p + KEYID_LEN, &m->u.done.peer);
		put32(p, m->u.done.hs_us);
		put32(p + 4, m->u.done.dur_us);
		p = put_stats(p + 8, &m->u.done.stats);
		wl = strnlen(m->u.done.why, MSG_WHY_MAX);
		*p++ = (uint8_t)wl;
		memcpy(p, m->u.done.why, wl);
		p += wl;
		break;
	case MSG_STATS:
		p = put_stats(p, &m->u.stats);
		break;
	case MSG_SECRET:
		memcpy(p, m->u.secret.data, m->u.secret.len);
		p += m->u.secret.len;
		break;
	case MSG_REFUSE:
		*p++ = m->u.refuse;
		break;
	case MSG_WAIT:
		put32(p, m->u.wait_ms);
		p += 4;
		break;
	case MSG_SHARES:
	case MSG_OTHERS:
		*p++ = m->u.shares.n;
		for (wl = 0; wl < m->u.shares.n && wl < MSG_SHARES_MAX; wl++) {
			*p++ = m->u.shares.e[wl].family;
			memcpy(p, m->u.shares.e[wl].addr, 16);
			put32(p + 16, m->u.shares.e[wl].count);
			p += 20;
		}
		break;
	}
	put16(out, m->type);
	put16(out + 2, MSG_VERSION);
	put32(out + 4, (uint32_t)(p - b));
	put64(out + 8, m->reqid);
	return ((size_t)(p - out));
}

size_t
msg_frame_len(const uint8_t *hdr)
{
	return (MSG_HDR_LEN + (size_t)get32(hdr + 4));
}

#define BAD(s)	do { *why = (s); return (-1); } while (0)

ssize_t
msg_decode(const uint8_t *buf, size_t len, int from_worker, struct msg *m,
    const char **why)
{
	const uint8_t	*b;
	uint32_t	 blen;
	size_t		 i, wl;

	if (len < MSG_HDR_LEN)
		return (0);
	m->type = get16(buf);
	if (get16(buf + 2) != MSG_VERSION)
		BAD("wrong message version");
	blen = get32(buf + 4);
	m->reqid = get64(buf + 8);
	/* The bound per type comes before waiting for the body. */
	switch (m->type) {
	case MSG_LOOKUP:
		if (!from_worker || blen != LOOKUP_LEN || m->reqid == 0)
			BAD("bad LOOKUP");
		break;
	case MSG_DONE:
		if (!from_worker || m->reqid == 0 || blen < DONE_FIXED ||
		    blen > DONE_FIXED + MSG_WHY_MAX)
			BAD("bad DONE");
		break;
	case MSG_STATS:
		if (!from_worker || blen != STATS_LEN || m->reqid != 0)
			BAD("bad STATS");
		break;
	case MSG_SECRET:
		if (from_worker || blen == 0 || blen > MSG_SECRET_MAX ||
		    m->reqid == 0)
			BAD("bad SECRET");
		break;
	case MSG_REFUSE:
		if (from_worker || blen != 1 || m->reqid == 0)
			BAD("bad REFUSE");
		break;
	case MSG_WAIT:
		if (from_worker || blen != 4 || m->reqid == 0)
			BAD("bad WAIT");
		break;
	case MSG_GO:
		if (from_worker || blen != 0 || m->reqid != 0)
			BAD("bad GO");
		break;
	case MSG_SHARES:
	case MSG_OTHERS:
		if (from_worker != (m->type == MSG_SHARES) || m->reqid != 0 ||
		    blen < 1 || blen > 1 + MSG_SHARES_MAX * SHARE_LEN ||
		    (blen - 1) % SHARE_LEN != 0)
			BAD("bad SHARES");
		break;
	default:
		BAD("unknown message type");
	}
	if (len - MSG_HDR_LEN < blen)
		return (0);
	b = buf + MSG_HDR_LEN;
	switch (m->type) {
	case MSG_LOOKUP:
		memcpy(m->u.lookup.keyid, b, KEYID_LEN);
		if (get_peer(b + KEYID_LEN, &m->u.lookup.peer) == -1)
			BAD("bad peer address");
		break;
	case MSG_DONE:
		m->u.done.result = b[0];
		m->u.done.has_keyid = b[1];
		if (m->u.done.result >= RESULT__COUNT || m->u.done.has_keyid > 1)
			BAD("bad DONE result");
		if (m->u.done.result == RESULT_SECRET_SENT &&
		    !m->u.done.has_keyid)
			BAD("secret sent without a lookup");
		memcpy(m->u.done.keyid, b + 2, KEYID_LEN);
		if (get_peer(b + 2 + KEYID_LEN, &m->u.done.peer) == -1)
			BAD("bad peer address");
		b += 2 + KEYID_LEN + PEER_LEN;
		m->u.done.hs_us = get32(b);
		m->u.done.dur_us = get32(b + 4);
		get_stats(b + 8, &m->u.done.stats);
		wl = b[8 + STATS_LEN];
		if (wl != blen - DONE_FIXED)
			BAD("bad DONE reason length");
		b += 8 + STATS_LEN + 1;
		for (i = 0; i < wl; i++)
			if (b[i] < 0x20 || b[i] > 0x7e)
				BAD("unprintable DONE reason");
		memcpy(m->u.done.why, b, wl);
		m->u.done.why[wl] = '\0';
		break;
	case MSG_STATS:
		get_stats(b, &m->u.stats);
		break;
	case MSG_SECRET:
		m->u.secret.data = b;
		m->u.secret.len = blen;
		break;
	case MSG_REFUSE:
		m->u.refuse = b[0];
		if (m->u.refuse == RESULT_SECRET_SENT ||
		    m->u.refuse >= RESULT__COUNT)
			BAD("bad REFUSE result");
		break;
	case MSG_WAIT:
		m->u.wait_ms = get32(b);
		break;
	case MSG_SHARES:
	case MSG_OTHERS:
		if ((size_t)b[0] * SHARE_LEN != blen - 1)
			BAD("bad SHARES count");
		m->u.shares.n = b[0];
		for (i = 0, b++; i < m->u.shares.n; i++, b += SHARE_LEN) {
			struct msg_share *e = &m->u.shares.e[i];

			e->family = b[0];
			memcpy(e->addr, b + 1, 16);
			e->count = get32(b + 17);
			if (e->family != 4 && e->family != 6)
				BAD("bad SHARES family");
			for (wl = 4; e->family == 4 && wl < 16; wl++)
				if (e->addr[wl] != 0)
					BAD("bad SHARES IPv4 address");
			if (e->count > MSG_SHARE_COUNT_MAX)
				BAD("bad SHARES count");
		}
		break;
	}
	return ((ssize_t)(MSG_HDR_LEN + blen));
}

void
msg_peer_from(struct msg_peer *p, const struct sockaddr *sa)
{
	memset(p, 0, sizeof(*p));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		p->family = 4;
		p->port = ntohs(in->sin_port);
		memcpy(p->addr, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		p->family = 6;
		p->port = ntohs(in6->sin6_port);
		memcpy(p->addr, &in6->sin6_addr, 16);
	} else
		p->family = 6;	/* unknown: shown as [::]:0 */
}

socklen_t
msg_peer_to(const struct msg_peer *p, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (p->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(p->port);
		memcpy(&in->sin_addr, p->addr, 4);
		return (sizeof(*in));
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p->port);
		memcpy(&in6->sin6_addr, p->addr, 16);
		return (sizeof(*in6));
	}
}
