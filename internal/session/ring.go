package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// Sentinel errors returned, wrapped with details, by [Ring.Open]. Test for
// them with errors.Is. All of them mean the visitor is not logged in; they
// differ only in what is worth logging.
var (
	// ErrMalformed means the value is not a cookie this package could have
	// made: wrong length, not base64url, unknown version or a broken layout.
	ErrMalformed = errors.New("session: malformed cookie")
	// ErrUnknownKey means the cookie names a key that is not in the ring,
	// typically one rotated out since the cookie was issued.
	ErrUnknownKey = errors.New("session: cookie signed by an unknown key")
	// ErrBadMAC means the signature does not match: the cookie was altered,
	// forged, or made for another site.
	ErrBadMAC = errors.New("session: bad cookie signature")
	// ErrExpired means the cookie is genuine but outside its validity
	// window: past its expiry, or issued further in the future than the
	// allowed clock skew of one minute.
	ErrExpired = errors.New("session: cookie expired or not yet valid")
)

// clockSkew is how far in the future a cookie's issue time may be, so that
// a cookie issued by one server is accepted by another whose clock lags.
const clockSkew = 60 // seconds

// Session is what a cookie says about its holder.
type Session struct {
	// ID identifies the session, so it can be revoked later. Seal fills
	// it from crypto/rand when it is all zero.
	ID [16]byte
	// JID is the visitor's bare JID, already normalised by the caller;
	// Open returns it as it was sealed.
	JID string
	// Issued and Expires are kept to the second; Open returns them in UTC.
	Issued  time.Time
	Expires time.Time
	// Authenticated is when the visitor proved who they are. A cookie
	// refreshed for an idle timeout gets a new Issued and Expires but keeps
	// this, so an absolute lifetime can be enforced. Seal uses Issued when
	// it is zero; it may not be after Issued.
	Authenticated time.Time
}

// Ring holds the keys that seal and open cookies: the first key signs, every
// key verifies. It is safe for concurrent use; to change the keys, make a
// new Ring.
type Ring struct {
	keys []ringKey
}

// ringKey is a key with its HMAC keyed once. Each cookie's MAC starts from
// a clone of that state (hash.Cloner), which costs less than keying a new
// HMAC: the bench's profile of an authenticated request put keying at
// about half of Open. Clone only reads the state it copies, so any number
// of requests may clone it at once.
type ringKey struct {
	Key
	keyed hash.Cloner // nil where the HMAC cannot be cloned (GOFIPS140=v1.0.0)
}

// NewRing makes a ring of keys, the first of which signs. It refuses an
// empty list, duplicate IDs, secrets shorter than MinSecretLen and IDs that
// are empty or longer than 16 bytes. The secrets are copied.
func NewRing(keys ...Key) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("session: a ring needs at least one key")
	}
	r := &Ring{keys: make([]ringKey, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		switch {
		case len(k.Secret) < MinSecretLen:
			return nil, fmt.Errorf("session: key %d (%q): secret is %d bytes, need at least %d", i, k.ID, len(k.Secret), MinSecretLen)
		case k.ID == "":
			return nil, fmt.Errorf("session: key %d has an empty ID", i)
		case len(k.ID) > maxKeyIDLen:
			return nil, fmt.Errorf("session: key %d: ID %q is longer than %d bytes", i, k.ID, maxKeyIDLen)
		case seen[k.ID]:
			return nil, fmt.Errorf("session: key ID %q appears twice", k.ID)
		}
		seen[k.ID] = true
		rk := ringKey{Key: Key{ID: k.ID, Secret: append([]byte(nil), k.Secret...)}}
		rk.keyed, _ = hmac.New(sha256.New, rk.Secret).(hash.Cloner)
		r.keys = append(r.keys, rk)
	}
	return r, nil
}

// lookup finds a key by ID.
func (r *Ring) lookup(id []byte) (ringKey, bool) {
	for _, k := range r.keys {
		if k.ID == string(id) {
			return k, true
		}
	}
	return ringKey{}, false
}

// mac is the HMAC-SHA256 of payload and site (its length, two bytes, then
// the name) under k: the site is in the MAC but not in the cookie.
func (k ringKey) mac(payload []byte, site string) [sha256.Size]byte {
	var h hash.Hash
	if k.keyed != nil {
		h, _ = k.keyed.Clone()
	}
	if h == nil {
		h = hmac.New(sha256.New, k.Secret)
	}
	var siteLen [2]byte
	binary.BigEndian.PutUint16(siteLen[:], uint16(len(site)))
	h.Write(payload)
	h.Write(siteLen[:])
	h.Write([]byte(site))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// checkSite refuses site names that cannot be bound into a MAC. An empty
// one is refused too: it almost certainly means the caller lost the host,
// and all such callers would then accept each other's cookies.
func checkSite(site string) error {
	if site == "" {
		return errors.New("session: empty site name")
	}
	if len(site) > maxSiteLen {
		return fmt.Errorf("session: site name is %d bytes, at most %d allowed", len(site), maxSiteLen)
	}
	return nil
}

// Seal returns the cookie value for s on site, signed with the ring's first
// key. It refuses an empty JID or one longer than 1023 bytes, an Expires
// not at least a second after Issued, and an empty or over-long site.
// Times are truncated to the second.
func (r *Ring) Seal(s Session, site string) (string, error) {
	if err := checkSite(site); err != nil {
		return "", err
	}
	if s.JID == "" {
		return "", errors.New("session: empty JID")
	}
	if len(s.JID) > maxJIDLen {
		return "", fmt.Errorf("session: JID is %d bytes, at most %d allowed", len(s.JID), maxJIDLen)
	}
	issued, expires := s.Issued.Unix(), s.Expires.Unix()
	if expires <= issued {
		return "", fmt.Errorf("session: expiry %v is not after issue time %v", s.Expires, s.Issued)
	}
	auth := issued
	if !s.Authenticated.IsZero() {
		auth = s.Authenticated.Unix()
	}
	if auth > issued {
		return "", fmt.Errorf("session: authentication time %v is after issue time %v", s.Authenticated, s.Issued)
	}
	if s.ID == [16]byte{} {
		if _, err := rand.Read(s.ID[:]); err != nil {
			return "", fmt.Errorf("session: generating session id: %w", err)
		}
	}
	k := r.keys[0]
	raw := appendPayload(nil, k.ID, issued, expires, &s.ID, auth, s.JID)
	sum := k.mac(raw, site)
	raw = append(raw, sum[:]...)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// Open verifies a cookie value for site at time now and returns the session
// it carries. On failure the error wraps ErrMalformed, ErrUnknownKey,
// ErrBadMAC or ErrExpired (see the package documentation for the order of
// the checks), except for an empty or over-long site, which is the caller's
// mistake rather than the cookie's. Open never panics, whatever the value.
func (r *Ring) Open(value, site string, now time.Time) (Session, error) {
	if err := checkSite(site); err != nil {
		return Session{}, err
	}
	if len(value) < minValueLen || len(value) > maxValueLen {
		return Session{}, fmt.Errorf("%w: %d characters, want %d to %d", ErrMalformed, len(value), minValueLen, maxValueLen)
	}
	// The decoder skips CR and LF even in strict mode: refused here, so
	// that a payload has exactly one accepted encoding.
	if strings.ContainsAny(value, "\r\n") {
		return Session{}, fmt.Errorf("%w: not unpadded base64url", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil {
		return Session{}, fmt.Errorf("%w: not unpadded base64url", ErrMalformed)
	}
	f, err := parse(raw)
	if err != nil {
		return Session{}, err
	}
	k, ok := r.lookup(f.keyID)
	if !ok {
		return Session{}, fmt.Errorf("%w: key id %q", ErrUnknownKey, f.keyID)
	}
	if sum := k.mac(f.payload, site); !hmac.Equal(sum[:], f.mac) {
		return Session{}, fmt.Errorf("%w: key id %s, site %q", ErrBadMAC, k.ID, site)
	}
	// Only now, with the contents known to be ours, are the times worth
	// reading. They are compared as Unix seconds, which cannot overflow the
	// way time.Time arithmetic on extreme values can.
	if f.expires <= f.issued || f.auth > f.issued {
		return Session{}, fmt.Errorf("%w: times out of order", ErrMalformed)
	}
	sec := now.Unix()
	if f.issued > sec && uint64(f.issued-sec) > clockSkew {
		return Session{}, fmt.Errorf("%w: issued %v, now %v", ErrExpired, time.Unix(f.issued, 0).UTC(), now)
	}
	if sec >= f.expires {
		return Session{}, fmt.Errorf("%w: expired %v, now %v", ErrExpired, time.Unix(f.expires, 0).UTC(), now)
	}
	return Session{
		ID:      f.id,
		JID:     string(f.jid),
		Issued:  time.Unix(f.issued, 0).UTC(),
		Expires: time.Unix(f.expires, 0).UTC(),

		Authenticated: time.Unix(f.auth, 0).UTC(),
	}, nil
}
