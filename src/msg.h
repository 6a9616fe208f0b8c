/*
 * msg.h: the worker<->authority channel, the only thing the two sides
 * share. A fixed header, a typed body of bounded length, strict decoding
 * on both sides: a worker may be compromised, so the authority treats every
 * field as if a stranger sent it.
 */
#ifndef MANDOSD_MSG_H
#define MANDOSD_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "keyid.h"

#define MSG_VERSION	1
#define MSG_HDR_LEN	16
#define MSG_SECRET_MAX	65536	/* the largest secret the authority sends */
#define MSG_WHY_MAX	96	/* reason text in MSG_DONE, truncated */
#define MSG_SHARES_MAX	32	/* sources per MSG_SHARES / MSG_OTHERS */
#define MSG_SHARE_COUNT_MAX (1U << 24)	/* connections of one source: more is a lie */
#define MSG_BODY_MAX	MSG_SECRET_MAX
#define MSG_FRAME_MAX	(MSG_HDR_LEN + MSG_BODY_MAX)

/* How a connection ended: the label of mandos_connections_total. */
enum conn_result {
	RESULT_SECRET_SENT,
	RESULT_NOT_FOUND,
	RESULT_DISABLED,
	RESULT_DENIED,
	RESULT_APPROVAL_TIMEOUT,
	RESULT_TLS_ERROR,
	RESULT_PROTOCOL_ERROR,
	RESULT_TIMEOUT,
	RESULT_SHUTDOWN,
	RESULT_ABANDONED,	/* the peer left while waiting for approval */
	RESULT_EVICTED,		/* its slot went to a source under its fair share */
	RESULT__COUNT
};

enum msg_type {
	/* worker -> authority */
	MSG_LOOKUP = 1,		/* a handshake completed: key ID + peer; parks reqid */
	MSG_DONE,		/* a connection ended; reqid: its id, parked or not */
	MSG_STATS,		/* the worker's counters changed */
	MSG_SHARES,		/* its busiest sources: slots + waiters each */
	/* authority -> worker */
	MSG_SECRET = 16,	/* send these bytes, then close_notify */
	MSG_REFUSE,		/* send nothing, close_notify, with this result */
	MSG_WAIT,		/* approval pending: hold on for up to ms */
	MSG_GO,			/* the authority is ready: start accepting */
	MSG_OTHERS,		/* the other workers' sums for those sources */
};

/* A peer address in a fixed shape (IPv4 as ::ffff:a.b.c.d is still AF_INET6). */
struct msg_peer {
	uint8_t		 family;	/* 4 or 6 */
	uint16_t	 port;
	uint8_t		 addr[16];
};

/* The worker's counters, cumulative since it started. */
struct msg_stats {
	uint64_t	 accepted;
	uint64_t	 accept_paused;
	uint64_t	 refused_share;	/* closed at accept: over its source's share */
	uint32_t	 active;
};

/* One source (masked, as fair.c keys it) and how many connections it has. */
struct msg_share {
	uint8_t		 family;	/* 4 or 6 */
	uint8_t		 addr[16];	/* IPv4: the first 4, the rest 0 */
	uint32_t	 count;		/* <= MSG_SHARE_COUNT_MAX */
};

struct msg {
	uint16_t	 type;
	uint64_t	 reqid;
	union {
		struct {
			uint8_t		 keyid[KEYID_LEN];
			struct msg_peer	 peer;
		} lookup;
		struct {
			uint8_t		 result;	/* enum conn_result */
			uint8_t		 has_keyid;
			uint8_t		 keyid[KEYID_LEN];
			struct msg_peer	 peer;
			uint32_t	 hs_us;		/* handshake time, 0 if none */
			uint32_t	 dur_us;	/* connect to close */
			struct msg_stats stats;
			char		 why[MSG_WHY_MAX + 1];	/* "" if none */
		} done;
		struct msg_stats stats;
		struct {
			const uint8_t	*data;	/* points into the decoded buffer */
			size_t		 len;
		} secret;
		uint8_t		 refuse;	/* enum conn_result */
		uint32_t	 wait_ms;
		struct {
			uint8_t		 n;	/* <= MSG_SHARES_MAX */
			struct msg_share e[MSG_SHARES_MAX];
		} shares;		/* MSG_SHARES, MSG_OTHERS */
	} u;
};

/*
 * Decode one frame from buf. Returns its length (> 0), 0 if more bytes are
 * needed, -1 with *why on a protocol error (the sender is broken or hostile).
 * from_worker: accept only the types a worker may send (else an authority's).
 * Pure: no state, no allocation, so that the fuzzer can drive it.
 */
ssize_t	 msg_decode(const uint8_t *buf, size_t len, int from_worker,
	    struct msg *, const char **why);
/* The length of the frame whose header is at hdr (MSG_HDR_LEN bytes). */
size_t	 msg_frame_len(const uint8_t *hdr);
/* Encode m into out (at least MSG_FRAME_MAX bytes); returns the length. */
size_t	 msg_encode(const struct msg *m, uint8_t *out);

void	 msg_peer_from(struct msg_peer *, const struct sockaddr *);
/* Back to a sockaddr_in6 / sockaddr_in; returns its length. */
socklen_t msg_peer_to(const struct msg_peer *, struct sockaddr_storage *);

#endif
