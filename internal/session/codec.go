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
	// maxSiteLen is generous for a host name (253 bytes) with a port; the
	// site's length is two bytes of the MAC input.
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
