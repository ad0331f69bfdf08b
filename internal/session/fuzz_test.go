package session

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// The seeds these targets start from are in testdata/fuzz/<target>/ as well
// as in f.Add, so that plain `go test` replays every input a fuzzing run
// has ever found worth keeping. The valid cookies among them are sealed by
// fuzzSessions with testKey(1) or testKey(2), so they stay valid only as
// long as the format and the key derivation do: a change to either shows
// up here as a failed seed, which is the point.

// fuzzNow is "now" for the seeds: every session of fuzzSessions is valid
// then.
var fuzzNow = t0.Unix()

// fuzzSessions are the sessions whose cookies the seeds hold. Their JIDs
// are normalised bare JIDs, as the gate seals them.
func fuzzSessions() []Session {
	long := testSession(strings.Repeat("l", 1000) + "@example.org")
	refreshed := testSession("bob@example.net")
	refreshed.Authenticated = t0.Add(-3 * time.Hour)
	refreshed.ID = [16]byte{0xff, 0xee, 0xdd}
	return []Session{
		testSession(aliceJID),
		testSession("jürgen@bücher.example"),
		refreshed,
		long,
	}
}

// fuzzRing is what every target opens with: two keys, so that a cookie
// signed by the second, older one verifies too.
func fuzzRing(tb testing.TB) (*Ring, Key, Key) {
	k1, k2 := testKey(tb, 1), testKey(tb, 2)
	return testRing(tb, k1, k2), k1, k2
}

// sentinels counts how many of the package's sentinel errors err wraps.
func sentinels(err error) int {
	n := 0
	for _, s := range []error{ErrMalformed, ErrUnknownKey, ErrBadMAC, ErrExpired} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// otherSite is a valid site name different from site.
func otherSite(site string) string {
	if len(site) < maxSiteLen {
		return site + "x"
	}
	return site[:len(site)-1]
}

// FuzzOpenCookie feeds Open arbitrary cookie values, sites and clocks.
//
// Properties: Open never panics; a refusal is the zero Session with exactly
// one sentinel error (none for a site the caller got wrong); an accepted
// value is one of the cookies the test sealed (nobody without the key makes
// a cookie), is the only encoding of its bytes, opens for no other site,
// carries a bare JID that re-parses to itself, and has times within the
// bounds Open promises; resealing it gives it back.
func FuzzOpenCookie(f *testing.F) {
	r, k1, k2 := fuzzRing(f)
	signedBy2 := testRing(f, k2)
	stranger := testRing(f, testKey(f, 3))

	// sealed maps every genuine cookie to its site.
	sealed := map[string]string{}
	for _, s := range fuzzSessions() {
		for _, st := range []string{site, "example.net"} {
			for _, rr := range []*Ring{r, signedBy2} {
				v := seal(f, rr, s, st)
				sealed[v] = st
			}
		}
	}
	good := seal(f, r, testSession(aliceJID), site)
	raw := decode(f, good)
	tampered := bytes.Clone(raw)
	tampered[len(tampered)/2] ^= 0x01
	other := decode(f, seal(f, r, testSession("bob@example.net"), site))
	swapped := append(bytes.Clone(raw[:len(raw)-macLen]), other[len(other)-macLen:]...)

	f.Add(good, site, fuzzNow)
	f.Add(seal(f, signedBy2, testSession(aliceJID), site), site, fuzzNow)
	f.Add(seal(f, r, fuzzSessions()[1], "example.net"), "example.net", fuzzNow)
	f.Add(good, "example.net", fuzzNow)
	f.Add(good, site, fuzzNow+24*3600)
	f.Add(good, site, fuzzNow-61)
	f.Add(good[:len(good)-1], site, fuzzNow)
	f.Add(good[:minValueLen], site, fuzzNow)
	f.Add(encode(tampered), site, fuzzNow)
	f.Add(encode(swapped), site, fuzzNow)
	f.Add(seal(f, stranger, testSession(aliceJID), site), site, fuzzNow)
	f.Add(good, "", fuzzNow)
	f.Add("", site, fuzzNow)
	f.Add(strings.Repeat("A", maxValueLen+1), site, fuzzNow)

	f.Fuzz(func(t *testing.T, value, site string, nowSec int64) {
		now := time.Unix(nowSec, 0)
		s, err := r.Open(value, site, now)
		if err != nil {
			if s != (Session{}) {
				t.Fatalf("Open returned %+v alongside %v", s, err)
			}
			if site == "" || len(site) > maxSiteLen {
				if sentinels(err) != 0 {
					t.Fatalf("a bad site was blamed on the cookie: %v", err)
				}
				return
			}
			if n := sentinels(err); n != 1 {
				t.Fatalf("error %v wraps %d sentinels, want 1", err, n)
			}
			if (len(value) < minValueLen || len(value) > maxValueLen) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%d characters refused with %v, want ErrMalformed", len(value), err)
			}
			if _, derr := base64.RawURLEncoding.Strict().DecodeString(value); derr != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("non-base64url value refused with %v, want ErrMalformed", err)
			}
			return
		}

		if want, ok := sealed[value]; !ok || want != site {
			t.Fatalf("Open accepted %q for %q, which the test never sealed for it: %+v", value, site, s)
		}
		b, derr := base64.RawURLEncoding.Strict().DecodeString(value)
		if derr != nil || base64.RawURLEncoding.EncodeToString(b) != value {
			t.Fatalf("accepted value is not canonical base64url (%v)", derr)
		}
		if _, err := r.Open(value, otherSite(site), now); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("cookie for %q opened on another site: %v", site, err)
		}
		if _, err := stranger.Open(value, site, now); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("a ring without the key: %v, want ErrUnknownKey", err)
		}

		j, jerr := jid.Parse(s.JID)
		if jerr != nil || j.String() != s.JID || j.Resourcepart() != "" || j.Localpart() == "" || len(s.JID) > maxJIDLen {
			t.Fatalf("accepted cookie carries JID %q, not a normalised bare JID (%v)", s.JID, jerr)
		}
		for _, tm := range []time.Time{s.Issued, s.Expires, s.Authenticated} {
			if tm.Location() != time.UTC || tm.Nanosecond() != 0 {
				t.Fatalf("time %v is not whole seconds in UTC", tm)
			}
		}
		iss, exp, auth := s.Issued.Unix(), s.Expires.Unix(), s.Authenticated.Unix()
		switch {
		case exp <= iss:
			t.Fatalf("accepted: expires %d not after issued %d", exp, iss)
		case auth > iss:
			t.Fatalf("accepted: authenticated %d after issued %d", auth, iss)
		case iss > nowSec && iss-nowSec > clockSkew:
			t.Fatalf("accepted: issued %d is more than %ds after now %d", iss, clockSkew, nowSec)
		case nowSec >= exp:
			t.Fatalf("accepted: expired %d at now %d", exp, nowSec)
		}

		again, err := r.Seal(s, site)
		if err != nil {
			t.Fatalf("Open accepted %+v, which Seal refuses: %v", s, err)
		}
		// Seal signs with the first key, so only a cookie of that key
		// comes back byte for byte.
		if int(b[1]) == len(k1.ID) && string(b[2:2+len(k1.ID)]) == k1.ID && again != value {
			t.Fatalf("resealed\n%s\nwant\n%s", again, value)
		}
		if s2, err := r.Open(again, site, now); err != nil || s2 != s {
			t.Fatalf("resealed cookie opens as %+v, %v; want %+v", s2, err, s)
		}
	})
}

// FuzzSealOpen seals arbitrary sessions, then opens and damages the result.
//
// Properties: Seal refuses exactly what its documentation says it refuses;
// whatever it seals opens at its issue time as the same session, within
// the documented length, and refuses every single-byte change, every
// truncation and every other site.
func FuzzSealOpen(f *testing.F) {
	r, _, _ := fuzzRing(f)
	zeroSec := time.Time{}.Unix()

	f.Add(aliceJID, site, fuzzNow, fuzzNow+3600, fuzzNow, []byte{1, 2, 3}, uint32(0))
	f.Add("jürgen@bücher.example", "example.net:8443", fuzzNow, fuzzNow+1, fuzzNow-86400, []byte{}, uint32(77))
	f.Add(strings.Repeat("a", 1023), site, int64(0), int64(1), int64(-1), []byte{0xff}, uint32(1<<20|5))
	f.Add(strings.Repeat("a", 1024), site, fuzzNow, fuzzNow+1, fuzzNow, []byte{}, uint32(0))
	f.Add(aliceJID, site, int64(-1<<63), int64(1<<63-1), zeroSec, []byte{}, uint32(3))
	f.Add(aliceJID, site, fuzzNow, fuzzNow, fuzzNow, []byte{}, uint32(0))
	f.Add(aliceJID, "", fuzzNow, fuzzNow+1, fuzzNow, []byte{}, uint32(0))
	f.Add(aliceJID, site, fuzzNow, fuzzNow+1, fuzzNow+1, []byte{}, uint32(0))

	f.Fuzz(func(t *testing.T, j, site string, issued, expires, auth int64, id []byte, pick uint32) {
		in := Session{
			JID:           j,
			Issued:        time.Unix(issued, 0),
			Expires:       time.Unix(expires, 0),
			Authenticated: time.Unix(auth, 0),
		}
		copy(in.ID[:], id)
		// The zero time means "unset", for which Seal takes Issued.
		wantAuth := auth
		if in.Authenticated.IsZero() {
			wantAuth = issued
		}
		refuse := site == "" || len(site) > maxSiteLen || j == "" || len(j) > maxJIDLen ||
			expires <= issued || wantAuth > issued

		v, err := r.Seal(in, site)
		if refuse != (err != nil) {
			t.Fatalf("Seal(%+v, %q) = %q, %v; want refused = %v", in, site, v, err, refuse)
		}
		if err != nil {
			return
		}
		if len(v) < minValueLen || len(v) > maxValueLen {
			t.Fatalf("sealed %d characters, outside %d..%d", len(v), minValueLen, maxValueLen)
		}
		now := time.Unix(issued, 0)
		out, err := r.Open(v, site, now)
		if err != nil {
			t.Fatalf("fresh cookie refused at its issue time: %v", err)
		}
		if out.JID != j || out.Issued.Unix() != issued || out.Expires.Unix() != expires || out.Authenticated.Unix() != wantAuth {
			t.Fatalf("opened %+v, sealed %+v", out, in)
		}
		if (in.ID != [16]byte{} && out.ID != in.ID) || out.ID == [16]byte{} {
			t.Fatalf("session id %x, sealed %x", out.ID, in.ID)
		}

		if _, err := r.Open(v, otherSite(site), now); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("opened on another site: %v", err)
		}
		n := int(pick % uint32(len(v)))
		if _, err := r.Open(v[:n], site, now); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d characters: %v", n, err)
		}
		b := decode(t, v)
		b[int(pick)%len(b)] ^= byte(pick>>8) | 1
		if got, err := r.Open(encode(b), site, now); err == nil {
			t.Fatalf("byte %d changed, still opens as %+v", int(pick)%len(b), got)
		}
	})
}

// FuzzParseLayout feeds the layout parser arbitrary decoded bytes.
//
// Properties: parse never panics; whatever it accepts has field lengths
// within the documented bounds and is rebuilt byte for byte from its fields
// (one meaning per cookie).
func FuzzParseLayout(f *testing.F) {
	r, _, _ := fuzzRing(f)
	good := decode(f, seal(f, r, testSession(aliceJID), site))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	f.Add(decode(f, seal(f, r, fuzzSessions()[3], site)))
	bad := bytes.Clone(good)
	bad[1] = maxKeyIDLen + 1
	f.Add(bad)
	f.Add([]byte{version, 1, 'k'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := parse(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse error %v is not ErrMalformed", err)
			}
			return
		}
		if len(p.keyID) == 0 || len(p.keyID) > maxKeyIDLen || len(p.jid) == 0 || len(p.jid) > maxJIDLen || len(p.mac) != macLen {
			t.Fatalf("accepted key id %d, JID %d, MAC %d bytes", len(p.keyID), len(p.jid), len(p.mac))
		}
		rebuilt := appendPayload(nil, string(p.keyID), p.issued, p.expires, &p.id, p.auth, string(p.jid))
		if !bytes.Equal(rebuilt, p.payload) || !bytes.Equal(append(rebuilt, p.mac...), raw) {
			t.Fatalf("%x parses to fields that rebuild as %x", raw, append(rebuilt, p.mac...))
		}
	})
}

// TestFuzzSeedsStillOpen keeps the checked-in corpus meaningful: the seeds
// named valid-* must still open, or a change to the format or the test
// keys would quietly leave the fuzzer with refusals only.
func TestFuzzSeedsStillOpen(t *testing.T) {
	r, _, _ := fuzzRing(t)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzOpenCookie", "valid-*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid seeds: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 4 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a three-argument corpus file", name)
		}
		value, err1 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		st, err2 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "string("), ")"))
		now, err3 := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(lines[3], "int64("), ")"), 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := r.Open(value, st, time.Unix(now, 0)); err != nil {
			t.Errorf("%s no longer opens: %v", filepath.Base(name), err)
		}
	}
}
