package session

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Layout of the payload; see the package documentation.
const (
	version = 1

	// fixedLen is every payload byte except keyID and JID: version, idLen,
	// issued, expires, sessionID, authenticated and jidLen.
	fixedLen = 1 + 1 + 8 + 8 + 16 + 8 + 2
	macLen   = sha256.Size

	// maxJIDLen refuses JIDs that cannot be sane bare JIDs in a cookie:
	// browsers cap a cookie at about 4 KB, and a bare JID this long is
	// already far beyond anything a real server hands out.
	maxJIDLen = 1023
	// maxSiteLen is generous for a host name (253 bytes) with a port; it
	// only bounds the scratch buffer the site is copied into.
	maxSiteLen = 1023

	minRawLen = fixedLen + 1 + 1 + macLen
	maxRawLen = fixedLen + maxKeyIDLen + maxJIDLen + macLen
)

// Bounds on the encoded value, checked before decoding so that hostile input
// costs nothing. The upper one is the longest cookie Seal can produce, well
// under the 4096 characters a browser would store.
var (
	minValueLen = base64.RawURLEncoding.EncodedLen(minRawLen)
	maxValueLen = base64.RawURLEncoding.EncodedLen(maxRawLen)
)

// scratch is the working memory of one Seal or Open. It comes from a pool
// rather than the stack because the buffers are handed to hash.Hash methods,
// and escape analysis must assume that anything passed to an interface
// method escapes: a stack buffer would be moved to the heap on every call.
type scratch struct {
	raw  [maxRawLen]byte
	site [2 + maxSiteLen]byte
	sum  [macLen]byte
	enc  [(maxRawLen*8 + 5) / 6]byte
}

// fields locates the parts of a decoded cookie inside its buffer.
type fields struct {
	keyID   []byte
	issued  int64
	expires int64
	id      [16]byte
	auth    int64
	jid     []byte
	payload []byte // everything the MAC covers, from version to JID
	mac     []byte
}

// parse splits a decoded cookie into its fields, refusing anything whose
// lengths do not add up exactly, so that every accepted cookie has exactly
// one meaning.
func parse(raw []byte) (fields, error) {
	var f fields
	if len(raw) < minRawLen {
		return f, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(raw))
	}
	if raw[0] != version {
		return f, fmt.Errorf("%w: unsupported version %d", ErrMalformed, raw[0])
	}
	idLen := int(raw[1])
	if idLen == 0 || idLen > maxKeyIDLen {
		return f, fmt.Errorf("%w: key id length %d", ErrMalformed, idLen)
	}
	jidOff := fixedLen + idLen
	if len(raw) < jidOff+macLen {
		return f, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(raw))
	}
	p := raw[2+idLen:]
	jidLen := int(binary.BigEndian.Uint16(p[40:42]))
	if jidLen == 0 || jidLen > maxJIDLen {
		return f, fmt.Errorf("%w: JID length %d", ErrMalformed, jidLen)
	}
	if len(raw) != jidOff+jidLen+macLen {
		return f, fmt.Errorf("%w: %d bytes, layout says %d", ErrMalformed, len(raw), jidOff+jidLen+macLen)
	}
	f.keyID = raw[2 : 2+idLen]
	f.issued = int64(binary.BigEndian.Uint64(p[0:8]))
	f.expires = int64(binary.BigEndian.Uint64(p[8:16]))
	copy(f.id[:], p[16:32])
	f.auth = int64(binary.BigEndian.Uint64(p[32:40]))
	f.jid = raw[jidOff : jidOff+jidLen]
	f.payload = raw[:jidOff+jidLen]
	f.mac = raw[jidOff+jidLen:]
	return f, nil
}

// appendPayload is the inverse of parse, minus the MAC.
func appendPayload(dst []byte, keyID string, issued, expires int64, id *[16]byte, auth int64, jid string) []byte {
	dst = append(dst, version, byte(len(keyID)))
	dst = append(dst, keyID...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(issued))
	dst = binary.BigEndian.AppendUint64(dst, uint64(expires))
	dst = append(dst, id[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(auth))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(jid)))
	return append(dst, jid...)
}

// b64 maps each base64url character to its 6-bit value and everything else
// to 0xFF, which is what makes a single OR detect any bad character.
var b64 = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = 0xFF
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodedLen is the number of bytes an unpadded base64 string of n
// characters decodes to.
func decodedLen(n int) int { return n * 6 / 8 }

// decodeBase64 decodes unpadded base64url from s into dst, which must be
// decodedLen(len(s)) bytes long, and reports whether s was valid.
//
// encoding/base64 is not used here for two reasons: it decodes from a
// []byte, so the string would have to be copied first, and even in strict
// mode it skips CR and LF, so one payload would have many accepted
// encodings. This decoder accepts exactly what RawURLEncoding produces.
func decodeBase64(dst []byte, s string) bool {
	if len(s)%4 == 1 || len(dst) != decodedLen(len(s)) {
		return false
	}
	// Eight characters make six bytes; storing them as one 8-byte word is
	// what keeps decoding well below the cost of the HMAC. The two extra
	// bytes written each time are overwritten by the next group, and the
	// loop stops while dst still has room for them.
	for len(s) >= 8 && len(dst) >= 8 {
		c := s[:8]
		a, b, d, e := b64[c[0]], b64[c[1]], b64[c[2]], b64[c[3]]
		f, g, h, i := b64[c[4]], b64[c[5]], b64[c[6]], b64[c[7]]
		if a|b|d|e|f|g|h|i > 63 {
			return false
		}
		binary.BigEndian.PutUint64(dst, uint64(a)<<58|uint64(b)<<52|uint64(d)<<46|uint64(e)<<40|
			uint64(f)<<34|uint64(g)<<28|uint64(h)<<22|uint64(i)<<16)
		s, dst = s[8:], dst[6:]
	}
	for len(s) >= 4 && len(dst) >= 3 {
		a, b, c, d := b64[s[0]], b64[s[1]], b64[s[2]], b64[s[3]]
		if a|b|c|d > 63 {
			return false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[0], dst[1], dst[2] = byte(v>>16), byte(v>>8), byte(v)
		s, dst = s[4:], dst[3:]
	}
	switch {
	case len(s) == 2 && len(dst) == 1:
		a, b := b64[s[0]], b64[s[1]]
		// The last character carries 4 unused bits, which must be zero.
		if a|b > 63 || b&0x0F != 0 {
			return false
		}
		dst[0] = a<<2 | b>>4
	case len(s) == 3 && len(dst) == 2:
		a, b, c := b64[s[0]], b64[s[1]], b64[s[2]]
		// Here 2 unused bits, which must be zero.
		if a|b|c > 63 || c&0x03 != 0 {
			return false
		}
		v := uint32(a)<<12 | uint32(b)<<6 | uint32(c)
		dst[0], dst[1] = byte(v>>10), byte(v>>2)
	case len(s) != 0 || len(dst) != 0:
		return false // unreachable given the length check above
	}
	return true
}
