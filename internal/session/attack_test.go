package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCookieAttacks is what someone holding a cookie, or none, can try
// against Open: every value below must be refused, for the stated reason,
// without a panic and without a scrap of session data coming back. What
// only the handler can refuse (revoked sessions, the configured absolute
// lifetime) is in caddymodule/cookie_attack_test.go.
func TestCookieAttacks(t *testing.T) {
	current, removed := testKey(t, 'c'), testKey(t, 'r')
	// The ring after a rotation has dropped the removed key.
	r := testRing(t, current)
	before := testRing(t, removed)

	alice := testSession(aliceJID)
	good := seal(t, r, alice, site)
	raw := decode(t, good)
	payload := raw[:len(raw)-macLen]
	idEnd := 2 + len(current.ID)
	bob := decode(t, seal(t, r, testSession("bob@example.org"), site))

	// edit changes the signed payload and leaves the MAC as it was.
	edit := func(change func(p []byte) []byte) string {
		p := change(bytes.Clone(payload))
		return encode(append(p, raw[len(raw)-macLen:]...))
	}
	// resigned changes the payload and signs it again with the real key,
	// so that only the check under test can refuse it.
	resigned := func(change func(p []byte) []byte) string {
		return resign(current, change(bytes.Clone(payload)), site)
	}
	setTime := func(off int, v int64) func(p []byte) []byte {
		return func(p []byte) []byte {
			binary.BigEndian.PutUint64(p[idEnd+off:], uint64(v))
			return p
		}
	}

	// An idle timeout shows in the cookie as an Expires soon after Issued
	// (the handler's setSession), well before the absolute lifetime.
	idle := alice
	idle.Authenticated = t0.Add(-2 * time.Hour)
	idle.Expires = t0.Add(30 * time.Minute)

	type attack struct {
		name  string
		value string
		site  string
		now   time.Time
		want  error
	}
	attacks := []attack{
		{"tampered JID", edit(func(p []byte) []byte { p[len(p)-1] ^= 'a' ^ 'b'; return p }), site, t0, ErrBadMAC},
		{"JID replaced, same length", edit(func(p []byte) []byte {
			return append(p[:len(p)-len(aliceJID)], "mallo@example.org"...)
		}), site, t0, ErrBadMAC},
		{"expiry pushed back", edit(setTime(8, t0.Add(365*24*time.Hour).Unix())), site, t0.Add(48 * time.Hour), ErrBadMAC},
		{"authentication time moved forward (dodging the absolute lifetime)", func() string {
			b := decode(t, seal(t, r, idle, site))
			binary.BigEndian.PutUint64(b[idEnd+32:], uint64(t0.Unix()))
			return encode(b)
		}(), site, t0, ErrBadMAC},
		{"session id changed (dodging a revocation)", edit(func(p []byte) []byte { p[idEnd+16] ^= 1; return p }), site, t0, ErrBadMAC},
		{"MAC of another valid cookie", encode(append(bytes.Clone(payload), bob[len(bob)-macLen:]...)), site, t0, ErrBadMAC},
		{"MAC zeroed", encode(append(bytes.Clone(payload), make([]byte, macLen)...)), site, t0, ErrBadMAC},
		{"MAC by another key under this key's id", resign(removed, payload, site), site, t0, ErrBadMAC},
		{"another site's cookie", seal(t, r, alice, "evil.example.org"), site, t0, ErrBadMAC},
		{"this cookie on another site", good, "evil.example.org", t0, ErrBadMAC},
		{"domain-wide cookie on the bare host", seal(t, r, alice, "."+site), site, t0, ErrBadMAC},
		{"site with a port", good, site + ":8443", t0, ErrBadMAC},

		{"expired (absolute)", good, site, alice.Expires, ErrExpired},
		{"expired long ago", good, site, alice.Expires.Add(365 * 24 * time.Hour), ErrExpired},
		{"expired (idle)", seal(t, r, idle, site), site, idle.Expires.Add(time.Second), ErrExpired},
		{"issued in the future", good, site, t0.Add(-2 * time.Minute), ErrExpired},
		{"signed with a future issue time", resigned(setTime(0, t0.Add(time.Hour).Unix())), site, t0, ErrExpired},

		{"signed by a removed key", seal(t, before, alice, site), site, t0, ErrUnknownKey},
		{"key id edited to a known key", encode(append(append([]byte{version, byte(len(current.ID))}, current.ID...),
			decode(t, seal(t, before, alice, site))[2+len(removed.ID):]...)), site, t0, ErrBadMAC},
		{"key id of no key", edit(func(p []byte) []byte { p[2] ^= 0x20; return p }), site, t0, ErrUnknownKey},

		{"empty", "", site, t0, ErrMalformed},
		{"10 KB", strings.Repeat("A", 10<<10), site, t0, ErrMalformed},
		{"10 KB of a real cookie repeated", strings.Repeat(good, 10<<10/len(good)+1)[:10<<10], site, t0, ErrMalformed},
		{"one byte appended", encode(append(bytes.Clone(raw), 0)), site, t0, ErrMalformed},
		{"wrong version (0)", resigned(func(p []byte) []byte { p[0] = 0; return p }), site, t0, ErrMalformed},
		{"wrong version (2)", resigned(func(p []byte) []byte { p[0] = 2; return p }), site, t0, ErrMalformed},
		{"wrong version (255), unsigned", edit(func(p []byte) []byte { p[0] = 255; return p }), site, t0, ErrMalformed},
		{"key id length 0", resigned(func(p []byte) []byte { p[1] = 0; return p }), site, t0, ErrMalformed},
		{"key id length past the key id", resigned(func(p []byte) []byte { p[1] = maxKeyIDLen + 1; return p }), site, t0, ErrMalformed},
		{"JID length past the end", resigned(func(p []byte) []byte {
			binary.BigEndian.PutUint16(p[idEnd+40:], uint16(len(aliceJID)+1))
			return p
		}), site, t0, ErrMalformed},
		{"expiry before issue, signed", resigned(setTime(8, t0.Unix()-1)), site, t0, ErrMalformed},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + strings.Repeat("+", 4), site, t0, ErrMalformed},
		{"padded", good + "=", site, t0, ErrMalformed},
		{"quoted", `"` + good + `"`, site, t0, ErrMalformed},
		{"space inside", good[:40] + " " + good[41:], site, t0, ErrMalformed},
		{"line break inside", good[:40] + "\n" + good[40:], site, t0, ErrMalformed},
		{"NUL inside", good[:40] + "\x00" + good[41:], site, t0, ErrMalformed},
		{"invalid UTF-8 inside", good[:40] + "\xff" + good[41:], site, t0, ErrMalformed},
		{"percent-encoded", strings.ReplaceAll(good, "_", "%5F") + "%3D", site, t0, ErrMalformed},
		{"not a cookie", "deleted", site, t0, ErrMalformed},
	}
	for n := range len(good) {
		attacks = append(attacks, attack{fmt.Sprintf("truncated to %d characters", n), good[:n], site, t0, ErrMalformed})
	}
	for n := range len(raw) {
		attacks = append(attacks, attack{fmt.Sprintf("truncated to %d bytes, re-encoded", n), encode(raw[:n]), site, t0, ErrMalformed})
	}

	if _, err := r.Open(good, site, t0); err != nil {
		t.Fatalf("the genuine cookie is refused, so nothing below means anything: %v", err)
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("Open panicked: %v", p)
				}
			}()
			s, err := r.Open(a.value, a.site, a.now)
			if !errors.Is(err, a.want) {
				t.Fatalf("Open error = %v, want %v", err, a.want)
			}
			if n := sentinels(err); n != 1 {
				t.Errorf("error %v wraps %d sentinels, want exactly one", err, n)
			}
			if s != (Session{}) {
				t.Errorf("Open returned %+v alongside the refusal", s)
			}
		})
	}
}
