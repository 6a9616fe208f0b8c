/* priority.h: the GnuTLS priority strings mandosd and its tools start from. */
#ifndef MANDOS_PRIORITY_H
#define MANDOS_PRIORITY_H

/* The reference's (Mandos 1.8.16), server and client alike. */
#define MANDOS_REFERENCE_PRIORITY \
	"SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA"

/*
 * mandosd's: the reference's with X25519 as the only group.  GnuTLS would
 * otherwise send two key shares (secp256r1 and X25519), and the reference
 * client picks secp256r1, the dearer of the two.  One share is one key
 * generation, a shorter ClientHello and a cheaper exchange on both ends.
 */
#define MANDOSD_DEFAULT_PRIORITY \
	MANDOS_REFERENCE_PRIORITY ":-GROUP-ALL:+GROUP-X25519"

#endif
