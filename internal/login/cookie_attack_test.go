package login

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// The cookie attacks of internal/session's TestCookieAttacks, sent through
// the handler as a browser or a script would send them, plus the ones only
// the handler can refuse: a revoked session, a session past the absolute
// lifetime configured now, a cookie made for another site of the same
// gate. No Prosody is needed: a request that carries no valid session
// never reaches the XMPP side.

const (
	attackCurrentSecret = "cookie-attack-test-current-key-0123456789"
	attackRemovedSecret = "cookie-attack-test-removed-key-0123456789"
	attackHost          = "wiki.example.org"
)

// attackNow is the time of every attack: the gate's clock is stopped
// there, so expiry is tested without waiting. It is the real time all the
// same: logout judges the cookie by the system clock.
var attackNow = time.Now().UTC().Truncate(time.Second)

func attackKey(t *testing.T, secret string) session.Key {
	t.Helper()
	k, err := session.KeyFromSecret([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func attackRing(t *testing.T, secrets ...string) *session.Ring {
	t.Helper()
	var keys []session.Key
	for _, s := range secrets {
		keys = append(keys, attackKey(t, s))
	}
	r, err := session.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// attackGate is a gate as the server makes it, signing with the current
// key only (the removed one has been rotated out), with a 24 h lifetime, a
// 2 h idle timeout and revocations kept in storage, and its Service's
// clock stopped at attackNow. Its debug log is where refused cookies are
// reported, with the reason.
func attackGate(t *testing.T, cookieDomain string) (*Gate, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	svc := testService(t, nil, func() time.Time { return attackNow })
	svc.Commit(DefaultLimits, newMemStorage(), 0)
	g := testGate(t, svc, Config{
		SessionLifetime: 24 * time.Hour,
		IdleTimeout:     2 * time.Hour,
		CookieDomain:    cookieDomain,
		Ring:            attackRing(t, attackCurrentSecret),
	}, Env{Logger: zap.New(core)})
	return g, logs
}

// attackResult is what one request got.
type attackResult struct {
	status   int
	upstream *http.Request // nil when the request was not passed on
	refusals []error       // the reasons logged for refused cookies
	header   http.Header   // what the handler left of the request's headers
}

// attackRequest sends a request for host with the session cookie value
// among others and a forged user header, at attackNow plus skew.
func attackRequest(t *testing.T, h *Gate, logs *observer.ObservedLogs, host, path, value string) attackResult {
	t.Helper()
	logs.TakeAll()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
	r.Host = host
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Cookie", "theme=dark; xmpp_auth="+value+"; lang=en")
	r.Header.Set("X-Forwarded-User", "admin@example.org")

	var res attackResult
	next := HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.upstream = r
		w.WriteHeader(http.StatusOK)
		return nil
	})
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the handler panicked: %v", p)
			}
		}()
		res.status = w.Code
		var se *StatusError
		if err := h.ServeHTTP(w, r, next); errors.As(err, &se) {
			res.status = se.Status
		} else if err != nil {
			t.Fatalf("ServeHTTP: %v", err)
		} else {
			res.status = w.Code
		}
	}()
	res.header = r.Header
	for _, e := range logs.FilterMessage("session cookie refused").All() {
		for _, f := range e.Context {
			if err, ok := f.Interface.(error); ok && f.Key == "error" {
				res.refusals = append(res.refusals, err)
			}
		}
	}
	return res
}

// forge builds a cookie value from its parts as the session package
// documents them, signed with secret for site.
func forge(secret string, keyID string, ver byte, issued, expires, auth time.Time, id [16]byte, jid, site string) string {
	p := []byte{ver, byte(len(keyID))}
	p = append(p, keyID...)
	p = binary.BigEndian.AppendUint64(p, uint64(issued.Unix()))
	p = binary.BigEndian.AppendUint64(p, uint64(expires.Unix()))
	p = append(p, id[:]...)
	p = binary.BigEndian.AppendUint64(p, uint64(auth.Unix()))
	p = binary.BigEndian.AppendUint16(p, uint16(len(jid)))
	p = append(p, jid...)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(p)
	m.Write(binary.BigEndian.AppendUint16(nil, uint16(len(site))))
	m.Write([]byte(site))
	return base64.RawURLEncoding.EncodeToString(m.Sum(p))
}

// errOpened marks cookies that Open accepts (genuine, unexpired) but that
// the handler must still refuse; the log then holds no refusal.
var errOpened = errors.New("opened, then refused by the handler")

func TestCookieAttacksThroughHandler(t *testing.T) {
	h, logs := attackGate(t, "")
	current := attackKey(t, attackCurrentSecret)
	seal := func(r *session.Ring, s session.Session, site string) string {
		t.Helper()
		v, err := r.Seal(s, site)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ring, removedRing := h.ring, attackRing(t, attackRemovedSecret)
	alice := session.Session{
		ID:            [16]byte{0xa1, 0x1c, 0xe0},
		JID:           "alice@example.org",
		Authenticated: attackNow.Add(-time.Hour),
		Issued:        attackNow.Add(-10 * time.Minute),
		Expires:       attackNow.Add(time.Hour),
	}
	good := seal(ring, alice, attackHost)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	bob := alice
	bob.ID, bob.JID = [16]byte{0xb0, 0xb0}, "bob@example.org"
	bobRaw, _ := base64.RawURLEncoding.DecodeString(seal(ring, bob, attackHost))
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	withFields := func(edit func(s *session.Session), ver byte) string {
		s := alice
		edit(&s)
		return forge(attackCurrentSecret, current.ID, ver, s.Issued, s.Expires, s.Authenticated, s.ID, s.JID, attackHost)
	}

	// Control: the genuine cookie passes, as alice, with no trace of the
	// forged header or of the gate's cookie upstream.
	res := attackRequest(t, h, logs, attackHost, "/page", good)
	if res.upstream == nil || res.upstream.Header.Get("X-Forwarded-User") != "alice@example.org" {
		t.Fatalf("the genuine cookie did not pass as alice: status %d, %+v", res.status, res)
	}
	if c := res.upstream.Header.Get("Cookie"); strings.Contains(c, "xmpp_auth") {
		t.Fatalf("the session cookie reached the upstream: %q", c)
	}
	if forged := withFields(func(*session.Session) {}, 1); forged != good {
		t.Fatalf("forge does not build cookies as Seal does:\n%s\n%s", forged, good)
	}

	idle := alice
	idle.Issued = attackNow.Add(-2*time.Hour - time.Minute)
	idle.Expires = idle.Issued.Add(2 * time.Hour)
	idle.Authenticated = idle.Issued.Add(-time.Hour)
	pastLifetime := alice
	pastLifetime.Authenticated = attackNow.Add(-25 * time.Hour)

	type attack struct {
		name  string
		value string
		host  string
		want  error
	}
	attacks := []attack{
		{"tampered JID", flip(len(raw) - 33), attackHost, session.ErrBadMAC},
		{"tampered expiry", flip(2 + len(current.ID) + 15), attackHost, session.ErrBadMAC},
		{"MAC of another valid cookie", base64.RawURLEncoding.EncodeToString(append(raw[:len(raw)-32:len(raw)-32], bobRaw[len(bobRaw)-32:]...)), attackHost, session.ErrBadMAC},
		{"cookie of another site of the gate", seal(ring, alice, "blog.example.org"), attackHost, session.ErrBadMAC},
		{"this cookie on another site of the gate", good, "blog.example.org", session.ErrBadMAC},
		{"domain-wide cookie where no cookie_domain is set", seal(ring, alice, ".example.org"), attackHost, session.ErrBadMAC},
		{"signed by a removed key", seal(removedRing, alice, attackHost), attackHost, session.ErrUnknownKey},
		{"expired (absolute)", withFields(func(s *session.Session) { s.Expires = attackNow }, 1), attackHost, session.ErrExpired},
		{"expired (idle)", seal(ring, idle, attackHost), attackHost, session.ErrExpired},
		{"past the configured lifetime, cookie itself unexpired", seal(ring, pastLifetime, attackHost), attackHost, errOpened},
		{"wrong version", withFields(func(*session.Session) {}, 2), attackHost, session.ErrMalformed},
		{"10 KB", strings.Repeat("A", 10<<10), attackHost, session.ErrMalformed},
		{"non-base64", strings.Repeat("+/", 70), attackHost, session.ErrMalformed},
		{"padded", good + "==", attackHost, session.ErrMalformed},
		{"empty", "", attackHost, session.ErrMalformed},
	}
	for n := 1; n < len(good); n++ {
		attacks = append(attacks, attack{fmt.Sprintf("truncated to %d characters", n), good[:n], attackHost, session.ErrMalformed})
	}

	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			res := attackRequest(t, h, logs, a.host, "/page", a.value)
			checkRefused(t, res)
			switch {
			case a.value == "":
				// An empty value may not even be tried; if it is, it is
				// malformed.
				for _, err := range res.refusals {
					if !errors.Is(err, session.ErrMalformed) {
						t.Errorf("refused as %v", err)
					}
				}
			case a.want == errOpened:
				if len(res.refusals) != 0 {
					t.Errorf("a genuine cookie was refused by Open: %v", res.refusals)
				}
			case len(res.refusals) != 1 || !errors.Is(res.refusals[0], a.want):
				t.Errorf("refusals logged = %v, want one wrapping %v", res.refusals, a.want)
			}
		})
	}

	t.Run("revoked", func(t *testing.T) {
		h, logs := attackGate(t, "")
		s := alice
		s.ID = [16]byte{0x7e, 0x70, 0x6b}
		v := seal(h.ring, s, attackHost)
		if res := attackRequest(t, h, logs, attackHost, "/page", v); res.upstream == nil {
			t.Fatalf("before the revocation: status %d", res.status)
		}
		if err := h.svc.revoked.revoke(t.Context(), revocation{id: s.ID, until: s.Expires}); err != nil {
			t.Fatal(err)
		}
		res := attackRequest(t, h, logs, attackHost, "/page", v)
		checkRefused(t, res)
		if len(res.refusals) != 0 {
			t.Errorf("a revoked but genuine cookie was refused by Open, not by the list: %v", res.refusals)
		}
	})

	// Logging out through the handler revokes the session everywhere: the
	// copy kept by an attacker, and a later refreshed cookie of the same
	// session, stop working.
	t.Run("logged out, copy replayed", func(t *testing.T) {
		h, logs := attackGate(t, "")
		s := alice
		s.ID = [16]byte{0x10, 0x6e, 0xd0}
		v := seal(h.ring, s, attackHost)
		refreshed := s
		refreshed.Issued = attackNow.Add(-time.Minute)
		copyLater := seal(h.ring, refreshed, attackHost)

		res := attackRequest(t, h, logs, attackHost, h.cfg.PathPrefix+"logout", v)
		if res.status != http.StatusNoContent {
			t.Fatalf("logout: status %d", res.status)
		}
		for name, value := range map[string]string{"the cookie logged out": v, "a refreshed copy": copyLater} {
			res := attackRequest(t, h, logs, attackHost, "/page", value)
			checkRefused(t, res)
			if len(res.refusals) != 0 {
				t.Errorf("%s: refused by Open, not by the revocation: %v", name, res.refusals)
			}
		}
	})

	// With cookie_domain, one domain-wide login serves every host under
	// it; a host-only cookie of one host still opens nowhere else.
	t.Run("host cookie on a sibling host under cookie_domain", func(t *testing.T) {
		h, logs := attackGate(t, "example.org")
		hostOnly := seal(h.ring, alice, attackHost)
		res := attackRequest(t, h, logs, "blog.example.org", "/page", hostOnly)
		checkRefused(t, res)
		if len(res.refusals) != 1 || !errors.Is(res.refusals[0], session.ErrBadMAC) {
			t.Errorf("refusals logged = %v, want ErrBadMAC", res.refusals)
		}
		wide := seal(h.ring, alice, ".example.org")
		if res := attackRequest(t, h, logs, "blog.example.org", "/page", wide); res.upstream == nil {
			t.Errorf("the domain-wide cookie did not pass on a sibling host: status %d", res.status)
		}
		if res := attackRequest(t, h, logs, "example.net", "/page", wide); res.upstream != nil {
			t.Error("the domain-wide cookie passed outside its domain")
		}
	})
}

// checkRefused fails unless the request was answered with the XEP-0070
// challenge, never reached the upstream, and lost the user header it came
// with.
func checkRefused(t *testing.T, res attackResult) {
	t.Helper()
	if res.upstream != nil {
		t.Fatalf("passed upstream as %q", res.upstream.Header.Get("X-Forwarded-User"))
	}
	if res.status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", res.status)
	}
	if v := res.header.Get("X-Forwarded-User"); v != "" {
		t.Errorf("the forged user header %q survived", v)
	}
}
