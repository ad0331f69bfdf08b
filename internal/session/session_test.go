package session

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	site     = "example.org"
	aliceJID = "alice@example.org"
)

// t0 is a fixed "now" so that tests do not depend on the clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testKey makes a deterministic key whose secret is b repeated.
func testKey(t testing.TB, b byte) Key {
	t.Helper()
	k, err := KeyFromSecret(bytes.Repeat([]byte{b}, MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testRing(t testing.TB, keys ...Key) *Ring {
	t.Helper()
	r, err := NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testSession(jid string) Session {
	return Session{
		ID:      [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		JID:     jid,
		Issued:  t0,
		Expires: t0.Add(24 * time.Hour),
	}
}

func seal(t testing.TB, r *Ring, s Session, site string) string {
	t.Helper()
	v, err := r.Seal(s, site)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// decode and encode let tests edit the bytes inside a cookie.
func decode(t testing.TB, v string) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func encode(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// resign recomputes the MAC of an edited payload the way the package
// documentation says it is computed, so that tests can reach the checks
// that come after the MAC.
func resign(k Key, payload []byte, site string) string {
	m := hmac.New(sha256.New, k.Secret)
	m.Write(payload)
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(site))))
	m.Write([]byte(site))
	return encode(m.Sum(bytes.Clone(payload)))
}

func TestKeyFromSecret(t *testing.T) {
	secret := bytes.Repeat([]byte{0xAB}, 40)
	k, err := KeyFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte("xepauth session key id"), secret...))
	if want := hex.EncodeToString(sum[:4]); k.ID != want {
		t.Errorf("ID = %q, want %q", k.ID, want)
	}
	if len(k.ID) != 8 {
		t.Errorf("ID %q is not 8 characters", k.ID)
	}
	if k2, _ := KeyFromSecret(secret); k2.ID != k.ID {
		t.Errorf("same secret gave IDs %q and %q", k.ID, k2.ID)
	}
	secret[0] = 0
	if k.Secret[0] != 0xAB {
		t.Error("Key shares its secret with the caller's slice")
	}
	for _, n := range []int{0, 1, 31} {
		if _, err := KeyFromSecret(make([]byte, n)); err == nil {
			t.Errorf("%d-byte secret accepted", n)
		}
	}
	if _, err := KeyFromSecret(make([]byte, 32)); err != nil {
		t.Errorf("32-byte secret refused: %v", err)
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Secret) != 32 {
		t.Errorf("secret is %d bytes, want 32", len(a.Secret))
	}
	if bytes.Equal(a.Secret, b.Secret) || a.ID == b.ID {
		t.Error("two generated keys are equal")
	}
	if _, err := NewRing(a, b); err != nil {
		t.Errorf("generated keys do not make a ring: %v", err)
	}
}

func TestKeyFormattingHidesSecret(t *testing.T) {
	k := testKey(t, 'S')
	wrapped := struct{ K Key }{k}
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k),
		fmt.Sprintf("%v %+v %#v", wrapped, wrapped, wrapped),
	} {
		if strings.Contains(s, "SSSS") || strings.Contains(s, "83 83 83") || !strings.Contains(s, k.ID) {
			t.Errorf("formatted key %q shows the secret or hides the ID", s)
		}
	}
}

func TestNewRing(t *testing.T) {
	good := testKey(t, 1)
	long16 := Key{ID: strings.Repeat("x", 16), Secret: make([]byte, 32)}
	tests := []struct {
		name string
		keys []Key
		ok   bool
	}{
		{"none", nil, false},
		{"one", []Key{good}, true},
		{"two", []Key{good, testKey(t, 2)}, true},
		{"duplicate ID", []Key{good, {ID: good.ID, Secret: make([]byte, 32)}}, false},
		{"same key twice", []Key{good, good}, false},
		{"short secret", []Key{{ID: "k", Secret: make([]byte, 31)}}, false},
		{"nil secret", []Key{{ID: "k"}}, false},
		{"empty ID", []Key{{Secret: make([]byte, 32)}}, false},
		{"16-byte ID", []Key{long16}, true},
		{"17-byte ID", []Key{{ID: strings.Repeat("x", 17), Secret: make([]byte, 32)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRing(tt.keys...)
			if (err == nil) != tt.ok {
				t.Fatalf("NewRing error = %v, want ok = %v", err, tt.ok)
			}
			if tt.ok {
				v := seal(t, r, testSession(aliceJID), site)
				if _, err := r.Open(v, site, t0); err != nil {
					t.Errorf("ring cannot open its own cookie: %v", err)
				}
			}
		})
	}
}

func TestNewRingCopiesSecrets(t *testing.T) {
	k := testKey(t, 1)
	r := testRing(t, k)
	v := seal(t, r, testSession(aliceJID), site)
	k.Secret[0] ^= 0xFF
	if _, err := r.Open(v, site, t0); err != nil {
		t.Errorf("changing the caller's secret broke the ring: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	tests := []struct {
		name string
		jid  string
	}{
		{"typical", aliceJID},
		{"one byte", "a"},
		{"non-ASCII", "jürgen.müller@bücher.example"},
		{"CJK and emoji", "用户@例子.测试"},
		{"longest", strings.Repeat("a", 1023)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testSession(tt.jid)
			out, err := r.Open(seal(t, r, in, site), site, t0)
			if err != nil {
				t.Fatal(err)
			}
			if out.JID != in.JID || out.ID != in.ID || !out.Issued.Equal(in.Issued) || !out.Expires.Equal(in.Expires) {
				t.Errorf("got %+v, want %+v", out, in)
			}
		})
	}
}

func TestSealTruncatesTimesAndReturnsUTC(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	in := testSession(aliceJID)
	zone := time.FixedZone("X", 5*3600)
	in.Issued = t0.Add(999 * time.Millisecond).In(zone)
	in.Expires = t0.Add(time.Hour + 500*time.Millisecond).In(zone)
	out, err := r.Open(seal(t, r, in, site), site, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Issued.Equal(t0) || !out.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("times = %v, %v; want %v, %v", out.Issued, out.Expires, t0, t0.Add(time.Hour))
	}
	if out.Issued.Location() != time.UTC || out.Expires.Location() != time.UTC {
		t.Error("Open did not return UTC times")
	}
}

func TestSealFillsZeroID(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	in := testSession(aliceJID)
	in.ID = [16]byte{}
	a, err := r.Open(seal(t, r, in, site), site, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Open(seal(t, r, in, site), site, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == [16]byte{} || a.ID == b.ID {
		t.Errorf("zero IDs were filled with %x and %x; want two random IDs", a.ID, b.ID)
	}
}

func TestSealRefuses(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	ok := testSession(aliceJID)
	tests := []struct {
		name string
		edit func(*Session)
		site string
	}{
		{"empty JID", func(s *Session) { s.JID = "" }, site},
		{"1024-byte JID", func(s *Session) { s.JID = strings.Repeat("a", 1024) }, site},
		{"expires = issued", func(s *Session) { s.Expires = s.Issued }, site},
		{"expires within the same second", func(s *Session) { s.Expires = s.Issued.Add(time.Second - 1) }, site},
		{"expires before issued", func(s *Session) { s.Expires = s.Issued.Add(-time.Hour) }, site},
		{"zero times", func(s *Session) { s.Issued, s.Expires = time.Time{}, time.Time{} }, site},
		{"empty site", func(*Session) {}, ""},
		{"1024-byte site", func(*Session) {}, strings.Repeat("h", 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			if v, err := r.Seal(s, tt.site); err == nil {
				t.Errorf("Seal = %q, want an error", v)
			}
		})
	}
}

// TestFormat builds a cookie byte by byte from the package documentation, so
// that the documented format and the code cannot drift apart.
func TestFormat(t *testing.T) {
	k := testKey(t, 1)
	r := testRing(t, k)
	s := testSession(aliceJID)
	var p []byte
	p = append(p, 1, byte(len(k.ID)))
	p = append(p, k.ID...)
	p = binary.BigEndian.AppendUint64(p, uint64(s.Issued.Unix()))
	p = binary.BigEndian.AppendUint64(p, uint64(s.Expires.Unix()))
	p = append(p, s.ID[:]...)
	p = binary.BigEndian.AppendUint64(p, uint64(s.Issued.Unix())) // authenticated: Issued when unset
	p = binary.BigEndian.AppendUint16(p, uint16(len(s.JID)))
	p = append(p, s.JID...)
	want := resign(k, p, site)
	if got := seal(t, r, s, site); got != want {
		t.Errorf("Seal =\n%s\nwant\n%s", got, want)
	}
}

func TestCookieLength(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	v := seal(t, r, testSession(aliceJID), site)
	t.Logf("cookie for %q is %d characters: %s", aliceJID, len(v), v)
	if len(v) > 256 {
		t.Errorf("cookie for a typical JID is %d characters, want well under 1 KB", len(v))
	}
	if strings.ContainsAny(v, "+/=;, \"\\") {
		t.Errorf("cookie %q has characters that need quoting in a cookie", v)
	}
	longest := seal(t, r, testSession(strings.Repeat("a", 1023)), site)
	if len(longest) > maxValueLen || maxValueLen > 4096 {
		t.Errorf("longest cookie is %d characters, bound is %d", len(longest), maxValueLen)
	}
}

// TestOpenErrors covers each sentinel error with the simplest cookie that
// provokes it.
func TestOpenErrors(t *testing.T) {
	key1, key2 := testKey(t, 1), testKey(t, 2)
	r := testRing(t, key1)
	good := seal(t, r, testSession(aliceJID), site)
	raw := decode(t, good)
	payload := raw[:len(raw)-32]
	other := seal(t, r, testSession("bobby@example.org"), site)
	otherRaw := decode(t, other)

	withVersion := func(v byte) string {
		p := bytes.Clone(payload)
		p[0] = v
		return resign(key1, p, site)
	}
	// swapMAC puts another genuine cookie's MAC on this payload.
	swapMAC := func() string {
		return encode(append(bytes.Clone(payload), otherRaw[len(otherRaw)-32:]...))
	}
	badTimes := func(issued, expires int64) string {
		p := bytes.Clone(payload)
		off := 2 + len(key1.ID)
		binary.BigEndian.PutUint64(p[off:], uint64(issued))
		binary.BigEndian.PutUint64(p[off+8:], uint64(expires))
		binary.BigEndian.PutUint64(p[off+8+8+16:], uint64(issued)) // authenticated = issued
		return resign(key1, p, site)
	}
	badAuth := func(auth int64) string {
		p := bytes.Clone(payload)
		binary.BigEndian.PutUint64(p[2+len(key1.ID)+8+8+16:], uint64(auth))
		return resign(key1, p, site)
	}
	issued := t0.Unix()

	tests := []struct {
		name  string
		value string
		site  string
		now   time.Time
		want  error
	}{
		{"valid", good, site, t0, nil},
		{"valid at issue time minus skew", good, site, t0.Add(-time.Minute), nil},
		{"valid just before expiry", good, site, t0.Add(24*time.Hour - 1), nil},

		{"empty", "", site, t0, ErrMalformed},
		{"10 KB", strings.Repeat("A", 10<<10), site, t0, ErrMalformed},
		{"one character over the longest cookie", strings.Repeat("A", maxValueLen+1), site, t0, ErrMalformed},
		{"truncated by one", good[:len(good)-1], site, t0, ErrMalformed},
		{"truncated to half", good[:len(good)/2], site, t0, ErrMalformed},
		{"one character appended", good + "A", site, t0, ErrMalformed},
		{"four characters appended", good + "AAAA", site, t0, ErrMalformed},
		{"padded", good + "=", site, t0, ErrMalformed},
		{"standard alphabet", strings.Repeat("+/", 60), site, t0, ErrMalformed},
		{"space inside", good[:50] + " " + good[51:], site, t0, ErrMalformed},
		{"line break inside", good[:50] + "\n" + good[50:], site, t0, ErrMalformed},
		{"NUL inside", good[:50] + "\x00" + good[51:], site, t0, ErrMalformed},
		{"non-ASCII inside", good[:50] + "é" + good[52:], site, t0, ErrMalformed},
		{"non-canonical final character", other[:len(other)-1] + nonCanonical(t, other), site, t0, ErrMalformed},
		{"version 0", withVersion(0), site, t0, ErrMalformed},
		{"version 2", withVersion(2), site, t0, ErrMalformed},
		{"version 255", withVersion(255), site, t0, ErrMalformed},
		{"MAC truncated", encode(raw[:len(raw)-1]), site, t0, ErrMalformed},
		{"MAC missing", encode(payload), site, t0, ErrMalformed},
		{"expiry not after issue, yet signed", badTimes(issued, issued), site, t0, ErrMalformed},
		{"authenticated after issue, yet signed", badAuth(issued + 1), site, t0, ErrMalformed},

		{"unknown key", seal(t, testRing(t, key2), testSession(aliceJID), site), site, t0, ErrUnknownKey},

		{"wrong site", good, "example.net", t0, ErrBadMAC},
		{"site differing in case", good, "Example.org", t0, ErrBadMAC},
		{"site with port", good, site + ":443", t0, ErrBadMAC},
		{"MAC swapped", swapMAC(), site, t0, ErrBadMAC},
		{"MAC zeroed", encode(append(bytes.Clone(payload), make([]byte, 32)...)), site, t0, ErrBadMAC},
		{"signed with key2 under key1's ID", resign(key2, payload, site), site, t0, ErrBadMAC},

		{"expired exactly", good, site, t0.Add(24 * time.Hour), ErrExpired},
		{"expired long ago", good, site, t0.Add(365 * 24 * time.Hour), ErrExpired},
		{"issued in the future", good, site, t0.Add(-time.Minute - time.Second), ErrExpired},
		{"issued at the far end of time", badTimes(1<<63-2, 1<<63-1), site, t0, ErrExpired},
		{"expired at the start of time", badTimes(-1<<63, -1<<63+1), site, t0, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := r.Open(tt.value, tt.site, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if s.JID != aliceJID {
					t.Errorf("JID = %q", s.JID)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if s != (Session{}) {
				t.Errorf("Open returned %+v alongside an error", s)
			}
		})
	}
}

// nonCanonical returns a replacement for the last character of v that
// decodes to the same bytes but sets unused low bits, which a lax decoder
// would accept.
func nonCanonical(t *testing.T, v string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, v[len(v)-1])
	switch len(v) % 4 {
	case 2:
		return string(alphabet[last|1])
	case 3:
		return string(alphabet[last|1])
	}
	t.Fatalf("cookie length %d leaves no unused bits", len(v))
	return ""
}

func TestOpenBadSite(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	v := seal(t, r, testSession(aliceJID), site)
	for _, s := range []string{"", strings.Repeat("h", 1024)} {
		if _, err := r.Open(v, s, t0); err == nil {
			t.Errorf("Open with a %d-byte site succeeded", len(s))
		}
	}
}

// TestTamperEachByte flips bits in every byte of a cookie and checks that
// each change is caught by the check responsible for that byte.
func TestTamperEachByte(t *testing.T) {
	k := testKey(t, 1)
	r := testRing(t, k)
	raw := decode(t, seal(t, r, testSession(aliceJID), site))
	idEnd := 2 + len(k.ID)
	jidLenAt := idEnd + 8 + 8 + 16 + 8
	for i := range raw {
		for _, flip := range []byte{0x01, 0x80, 0xFF} {
			var want error
			switch {
			case i == 0, i == 1: // version, key id length: layout breaks
				want = ErrMalformed
			case i < idEnd:
				want = ErrUnknownKey
			case i == jidLenAt || i == jidLenAt+1: // JID length no longer matches
				want = ErrMalformed
			default: // times, session id, JID, MAC
				want = ErrBadMAC
			}
			b := bytes.Clone(raw)
			b[i] ^= flip
			_, err := r.Open(encode(b), site, t0)
			if !errors.Is(err, want) {
				t.Errorf("byte %d ^ %#x: error = %v, want %v", i, flip, err, want)
			}
		}
	}
}

func TestTruncatedEverywhere(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	v := seal(t, r, testSession(aliceJID), site)
	for n := range len(v) {
		if _, err := r.Open(v[:n], site, t0); !errors.Is(err, ErrMalformed) {
			t.Errorf("first %d characters: error = %v, want ErrMalformed", n, err)
		}
	}
}

func TestSecondKeyVerifies(t *testing.T) {
	k1, k2 := testKey(t, 1), testKey(t, 2)
	old := seal(t, testRing(t, k2), testSession(aliceJID), site)
	r := testRing(t, k1, k2)
	if _, err := r.Open(old, site, t0); err != nil {
		t.Errorf("cookie signed by the second key: %v", err)
	}
	fresh := seal(t, r, testSession(aliceJID), site)
	if _, err := testRing(t, k1).Open(fresh, site, t0); err != nil {
		t.Errorf("ring did not sign with its first key: %v", err)
	}
	if _, err := testRing(t, k2).Open(fresh, site, t0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("ring signed with its second key: %v", err)
	}
}

// TestRotation walks through the rotation the package documentation
// describes: [old] -> [new, old] -> [new].
func TestRotation(t *testing.T) {
	oldKey, newKey := testKey(t, 'o'), testKey(t, 'n')

	stage1 := testRing(t, oldKey)
	c1 := seal(t, stage1, testSession("one@example.org"), site)

	stage2 := testRing(t, newKey, oldKey)
	c2 := seal(t, stage2, testSession("two@example.org"), site)
	for _, c := range []string{c1, c2} {
		if _, err := stage2.Open(c, site, t0); err != nil {
			t.Errorf("during rotation: %v", err)
		}
	}
	if _, err := stage1.Open(c2, site, t0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a server not yet rotated opened a new cookie: %v", err)
	}

	stage3 := testRing(t, newKey)
	if _, err := stage3.Open(c2, site, t0); err != nil {
		t.Errorf("after rotation, new cookie: %v", err)
	}
	if _, err := stage3.Open(c1, site, t0); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("after rotation, old cookie: error = %v, want ErrUnknownKey", err)
	}
}

// TestSameKeyDifferentSites checks that sharing a key between sites does
// not let their cookies cross over, including sites whose names are
// prefixes of each other.
func TestSameKeyDifferentSites(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	sites := []string{"a.example", "b.example", "a.example.org", "a.exampl", "localhost:8080"}
	for _, from := range sites {
		v := seal(t, r, testSession(aliceJID), from)
		for _, to := range sites {
			_, err := r.Open(v, to, t0)
			if from == to && err != nil {
				t.Errorf("%s on itself: %v", from, err)
			}
			if from != to && !errors.Is(err, ErrBadMAC) {
				t.Errorf("%s cookie on %s: error = %v, want ErrBadMAC", from, to, err)
			}
		}
	}
}

func TestOnlyTheCanonicalEncodingOfACookieOpens(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	good := seal(t, r, testSession(aliceJID), site)
	if _, err := r.Open(good, site, t0.Add(time.Hour)); err != nil {
		t.Fatalf("the cookie itself: %v", err)
	}
	// A character that is not base64url, or a line break (which the
	// standard decoder would skip), anywhere: malformed.
	for i := range len(good) {
		for _, c := range []string{"+", "/", "=", "\n", "\r", " ", "\x00", "\xff"} {
			bad := good[:i] + c + good[i+1:]
			if _, err := r.Open(bad, site, t0.Add(time.Hour)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%q at %d: %v, want ErrMalformed", c, i, err)
			}
		}
		if _, err := r.Open(good[:i]+"\n"+good[i:], site, t0.Add(time.Hour)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a line break inserted at %d: %v, want ErrMalformed", i, err)
		}
	}
	// The last character carries unused bits: set, they would give a
	// second spelling of the same bytes.
	last := strings.IndexByte(base64URLAlphabet, good[len(good)-1])
	for bit := 1; bit < 16; bit <<= 1 {
		v := last | bit
		if v == last || v >= 64 {
			continue
		}
		other := good[:len(good)-1] + string(base64URLAlphabet[v])
		raw, err := base64.RawURLEncoding.DecodeString(other)
		want, _ := base64.RawURLEncoding.DecodeString(good)
		if err != nil || !bytes.Equal(raw, want) {
			continue // this bit is used: another payload, refused by its MAC
		}
		if _, err := r.Open(other, site, t0.Add(time.Hour)); !errors.Is(err, ErrMalformed) {
			t.Errorf("the cookie with an unused bit set (%q): %v, want ErrMalformed", other, err)
		}
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TestConcurrent is for the race detector: rings are shared by every
// request a server handles.
func TestConcurrent(t *testing.T) {
	r := testRing(t, testKey(t, 1), testKey(t, 2))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := testSession(fmt.Sprintf("user%d-%d@example.org", g, i))
				v, err := r.Seal(s, site)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := r.Open(v, site, t0)
				if err != nil || got.JID != s.JID {
					t.Errorf("Open = %+v, %v; want JID %q", got, err, s.JID)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzOpen(f *testing.F) {
	k := testKey(f, 1)
	r := testRing(f, k)
	good := seal(f, r, testSession(aliceJID), site)
	f.Add(good)
	f.Add(seal(f, r, testSession("jürgen@bücher.example"), site))
	f.Add(seal(f, testRing(f, testKey(f, 2)), testSession(aliceJID), site))
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add("")
	f.Add("not a cookie")
	f.Add(strings.Repeat("A", 94))
	f.Add(strings.Repeat("_", 2000))
	f.Fuzz(func(t *testing.T, value string) {
		s, err := r.Open(value, site, t0)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) &&
				!errors.Is(err, ErrBadMAC) && !errors.Is(err, ErrExpired) {
				t.Fatalf("Open error %v wraps no sentinel", err)
			}
			return
		}
		again, err := r.Seal(s, site)
		if err != nil {
			t.Fatalf("Open accepted %+v, which Seal refuses: %v", s, err)
		}
		s2, err := r.Open(again, site, t0)
		if err != nil {
			t.Fatalf("resealed cookie refused: %v", err)
		}
		if s2 != s {
			t.Fatalf("resealed session %+v, want %+v", s2, s)
		}
	})
}

func TestAuthenticatedSurvivesARefresh(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	s := testSession(aliceJID)
	s.Authenticated = s.Issued.Add(-3 * time.Hour)
	got, err := r.Open(seal(t, r, s, site), site, s.Issued)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Authenticated.Equal(s.Authenticated.Truncate(time.Second)) || got.ID != s.ID {
		t.Errorf("opened %+v, sealed %+v", got, s)
	}
	s.Authenticated = s.Issued.Add(time.Hour)
	if _, err := r.Seal(s, site); err == nil {
		t.Error("Seal accepted an authentication time after the issue time")
	}
}

func TestAMACFromTheClonedKeyedStateIsTheHMACOfPayloadAndSite(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	k := r.keys[0]
	payload := []byte("a payload of some length")
	want := hmac.New(sha256.New, k.Secret)
	want.Write(payload)
	want.Write([]byte{0, byte(len(site))})
	want.Write([]byte(site))
	for _, tt := range []struct {
		name string
		key  ringKey
	}{
		{"cloned", k},
		{"keyed afresh, where cloning is not available", ringKey{Key: k.Key}},
	} {
		for i := range 2 { // the keyed state is not changed by use
			if got := tt.key.mac(payload, site); !hmac.Equal(got[:], want.Sum(nil)) {
				t.Errorf("%s, MAC %d: %x, want %x", tt.name, i, got, want.Sum(nil))
			}
		}
	}
}
