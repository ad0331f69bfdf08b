// Package session seals and opens the signed cookie that xepauth sets once a
// visitor has proved, over XMPP, that they own a JID.
//
// The cookie is not encrypted: anyone holding it can read the JID and the
// times in it. It is authenticated: nobody without one of the server's keys
// can make or alter a cookie that [Ring.Open] accepts, and a cookie made for
// one site is refused by every other site, even one sharing the same key.
//
// # Keys and rotation
//
// A [Ring] holds one or more HMAC-SHA256 keys. The first key signs new
// cookies; every key verifies. To rotate without logging everybody out:
//
//  1. start from a ring [old];
//  2. deploy [new, old]: new cookies are signed by new, old cookies still work;
//  3. once every cookie signed by old has expired, deploy [new].
//
// Keys made by [KeyFromSecret] get an ID derived from the secret, so a
// configuration only has to list secrets.
//
// # Format
//
// A cookie value is the unpadded base64url encoding (RFC 4648 §5) of
//
//	payload || MAC
//
// where payload is, with all integers big-endian:
//
//	version     1 byte     always 1
//	idLen       1 byte     length of keyID, 1..16
//	keyID       idLen bytes
//	issued      8 bytes    signed Unix seconds
//	expires     8 bytes    signed Unix seconds, after issued
//	sessionID   16 bytes   random
//	auth        8 bytes    signed Unix seconds, not after issued
//	jidLen      2 bytes    length of JID, 1..1023
//	JID         jidLen bytes
//
// and MAC is the full 32-byte HMAC-SHA256, under the key named by keyID, of
//
//	payload || siteLen (2 bytes) || site
//
// The site (the host name the cookie belongs to, 1..1023 bytes) is not
// stored in the cookie; it is only mixed into the MAC, which is what ties a
// cookie to its site. Its length is included so that the boundary between
// payload and site can never be moved.
//
// A cookie for a typical JID such as alice@example.org is 135 characters
// long; the longest possible one is 1487.
//
// # Verification
//
// [Ring.Open] checks, in this order, stopping at the first failure: the
// length of the value (before decoding anything), strict base64url (only the
// URL alphabet, no padding, no line breaks, unused trailing bits zero), the
// version and layout, that the key ID is in the ring, the MAC (compared in
// constant time), and finally the time: expires must be after issued (Seal
// never makes such a cookie, so a signed one is reported as malformed),
// issued may be at most one minute ahead of now, to allow for clock skew
// between servers, and now must be before expires. Each failure wraps one
// of [ErrMalformed], [ErrUnknownKey], [ErrBadMAC] or [ErrExpired], which
// errors.Is recognises.
//
// Open is cheap enough to run on every request: well under a microsecond and a
// single allocation (the JID string) per valid cookie.
package session
