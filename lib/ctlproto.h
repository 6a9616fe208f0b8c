/*
 * ctlproto.h: the control socket's wire format, shared by mandosd and
 * mandosctl. One JSON object per line each way:
 *   {"v":1,"cmd":"list"}                      -> {"v":1,"ok":true,"result":{...}}
 *   {"v":1,"cmd":"enable","clients":["foo"]}  -> {"v":1,"ok":true,"result":["foo"]}
 *   {"v":1,"cmd":"watch"}  -> {"v":1,"ok":true,"result":"watching"} then
 *                             {"v":1,"event":"...","time":"...",...} lines
 * Errors: {"v":1,"ok":false,"error":"..."}.
 */
#ifndef MANDOS_CTLPROTO_H
#define MANDOS_CTLPROTO_H

#define CTL_PROTO_VERSION	1
#define CTL_MAXLINE		(256 * 1024)	/* longest request line */
#define CTL_WATCH_HIWAT		(1024 * 1024)	/* a watcher this far behind is dropped */
#define CTL_MAXPEERS		128
#define CTL_IDLE_MS		60000		/* a peer's next request, a reply's progress */
#define CTL_DEFAULT_SOCKET	RUNSTATEDIR "/mandos/mandosd.sock"

#endif
