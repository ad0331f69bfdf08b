package xmpptest

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/webtest"
)

// The SASL authorization identity (authzid) names the account a client asks
// to act as once its own credentials check out. Neither server has any
// proxy-authorization policy, so the only safe answers are to refuse an
// authzid naming another account or to ignore it. Prosody 0.12 ignores it.
// ejabberd 23.01 honours it in PLAIN (and X-OAUTH2): it checks mallory's
// password, then binds the session to the local part of whatever the
// authzid names, the domain part dropped, without checking that the
// account exists, so that mallory is victim on the server and every
// stanza of hers carries victim's address. SCRAM is safe on both: its
// a= attribute is ignored.
//
// The tests below pin the observed behaviour, so that a server upgrade
// that changes it fails here and the docs get updated.

// authzidCases are logins as mallory, with her own password, asking for
// authzid (%s is the server's domain); each server binds a session for the
// bare JID in its column.
var authzidCases = []struct {
	name              string
	authzid           string
	prosody, ejabberd string
}{
	{"another account", "victim@%s", "mallory@%s", "victim@%s"},
	{"another account's bare local part", "victim", "mallory@%s", "victim@%s"},
	{"another account, on a domain the server does not host", "victim@elsewhere.example", "mallory@%s", "victim@%s"},
	{"an account that does not exist", "nobody@%s", "mallory@%s", "nobody@%s"},
	{"another account in capitals", "VICTIM@%s", "mallory@%s", "VICTIM@%s"},
	{"her own account", "mallory@%s", "mallory@%s", "mallory@%s"},
}

// TestEjabberd2301BindsASASLPlainAuthzidOfAnotherAccount: with mallory's
// password and PLAIN's authzid "victim@localhost", ejabberd 23.01 binds
// victim@localhost/…, stamps victim's address on what mallory sends, and
// hands her the messages sent to victim.
func TestEjabberd2301BindsASASLPlainAuthzidOfAnotherAccount(t *testing.T) {
	testAuthzid(t, KindEjabberd)
}

// TestProsody012IgnoresASASLPlainAuthzid: Prosody 0.12 logs mallory in as
// mallory whatever the authzid says.
func TestProsody012IgnoresASASLPlainAuthzid(t *testing.T) {
	testAuthzid(t, KindProsody)
}

func testAuthzid(t *testing.T, kind Kind) {
	ejabberd := kind == KindEjabberd
	p := NewServerOf(t, kind, Config{})
	ctx := testCtx(t, 60*time.Second)
	d := p.Domain
	registerAll(ctx, t, p, "mallory", "victim", "receiver")

	t.Run("offers PLAIN", func(t *testing.T) {
		want := []string{"PLAIN", "SCRAM-SHA-1"} // sorted
		if ejabberd {
			want = append(want, "X-OAUTH2")
		}
		got, err := p.SASLMechanisms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Prosody lists them in no fixed order.
		if !slices.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Errorf("mechanisms %q, want %q", got, want)
		}
	})

	receiver := connectRaw(ctx, t, p, "receiver", "receiverpw", WithResource("r"))
	for _, tc := range authzidCases {
		t.Run("PLAIN authzid: "+tc.name, func(t *testing.T) {
			authzid := fmtDomain(tc.authzid, d)
			want := fmtDomain(tc.prosody, d) + "/imp"
			if ejabberd {
				want = fmtDomain(tc.ejabberd, d) + "/imp"
			}
			msg := plainMessage(authzid, "mallory", "mallorypw")
			c, err := p.ConnectRaw(ctx, "mallory", "mallorypw", WithAuthzid(authzid), WithResource("imp"))
			if err != nil {
				t.Fatalf("PLAIN %q: %v", msg, err)
			}
			defer c.Close()
			if c.JID() != want {
				t.Errorf("PLAIN %q: bound %q, want %q", msg, c.JID(), want)
			}
			// What the server stamps on the session's stanzas is what
			// xepauth reads as the sender.
			if err := c.Send("<message to='receiver@" + d + "/r' type='chat'><body>x</body></message>"); err != nil {
				t.Fatal(err)
			}
			from := attrOf(nextMessage(ctx, t, receiver), "from")
			if from != want {
				t.Errorf("PLAIN %q: stamped from %q, want %q", msg, from, want)
			}
			t.Logf("<auth mechanism='PLAIN'>%s</auth> (%q): <success/>, bound %q, stamped from %q",
				base64.StdEncoding.EncodeToString(msg), msg, c.JID(), from)
		})
	}

	// Where an XEP-0070 request for victim goes: to the impostor's session
	// on ejabberd; on Prosody it bounces, victim being offline.
	t.Run("a message to the other account", func(t *testing.T) {
		c := connectRaw(ctx, t, p, "mallory", "mallorypw", WithAuthzid("victim@"+d), WithResource("imp"))
		if err := receiver.Send("<message to='victim@" + d + "' type='chat' id='for-victim'><body>approve?</body></message>"); err != nil {
			t.Fatal(err)
		}
		if ejabberd {
			got := nextMessage(ctx, t, c)
			mustHave(t, got, true, "id='for-victim'", "from='receiver@"+d+"/r'", "<body>approve?</body>")
			return
		}
		got := nextMessage(ctx, t, receiver)
		mustHave(t, got, true, "type='error'", "id='for-victim'", "from='victim@"+d+"'")
	})

	t.Run("PLAIN authzid with a wrong password", func(t *testing.T) {
		_, err := p.ConnectRaw(ctx, "mallory", "wrong", WithAuthzid("victim@"+d))
		var se *SASLError
		if !errors.As(err, &se) || se.Condition != "not-authorized" {
			t.Fatalf("err = %v, want SASL failure not-authorized", err)
		}
	})

	// The harness's users pick SCRAM-SHA-1, whose client-first message
	// carries the authzid as "n,a=victim@localhost,n=mallory,r=…".
	t.Run("SCRAM-SHA-1 authzid", func(t *testing.T) {
		var wire webtest.SyncBuffer
		u, err := p.Connect(ctx, "mallory", "mallorypw", Approve, WithUserAuthzid("victim@"+d), WithWireLog(&wire))
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		scram := scramAuth(wire.String())
		if !strings.HasPrefix(scram, "n,a=victim@"+d+",n=mallory,r=") {
			t.Errorf("sent SCRAM-SHA-1 client-first %q, want one with a=victim@%s", scram, d)
		}
		if got := u.JID.Bare().String(); got != "mallory@"+d {
			t.Errorf("SCRAM-SHA-1 %q: bound %q, want mallory@%s", scram, u.JID, d)
		}
		t.Logf("<auth mechanism='SCRAM-SHA-1'> %q: bound %q", scram, u.JID)
	})
}

// disabledMechanisms is what the README tells ejabberd operators to set:
//
//	disable_sasl_mechanisms: ["PLAIN", "DIGEST-MD5", "X-OAUTH2"]
//
// every mechanism whose authorization identity ejabberd 23.01 honours.
var disabledMechanisms = []string{"PLAIN", "DIGEST-MD5", "X-OAUTH2"}

// TestEjabberd2301BindsADigestMD5AuthzidOfAnotherAccountWhenPasswordsArePlain:
// with passwords stored in plain text (ejabberd's own default), ejabberd
// 23.01 offers DIGEST-MD5 and honours its authzid as it does PLAIN's, so
// disabling PLAIN and X-OAUTH2 alone leaves the way open.
func TestEjabberd2301BindsADigestMD5AuthzidOfAnotherAccountWhenPasswordsArePlain(t *testing.T) {
	p := NewServerOf(t, KindEjabberd, Config{PlainPasswords: true, DisableSASLMechanisms: []string{"PLAIN", "X-OAUTH2"}})
	ctx := testCtx(t, 60*time.Second)
	d := p.Domain
	registerAll(ctx, t, p, "mallory", "victim")
	got, err := p.SASLMechanisms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "DIGEST-MD5") {
		t.Fatalf("mechanisms %q, want DIGEST-MD5 among them", got)
	}
	for _, tc := range []struct{ authzid, want string }{
		{"", "mallory@" + d + "/imp"},
		{"victim", "victim@" + d + "/imp"},
	} {
		c, err := p.ConnectRaw(ctx, "mallory", "mallorypw", WithDigestMD5(), WithAuthzid(tc.authzid), WithResource("imp"))
		if err != nil {
			t.Fatalf("DIGEST-MD5, authzid %q: %v", tc.authzid, err)
		}
		if c.JID() != tc.want {
			t.Errorf("DIGEST-MD5 as mallory, authzid %q: bound %q, want %q", tc.authzid, c.JID(), tc.want)
		}
		c.Close()
	}
	_, err = p.ConnectRaw(ctx, "mallory", "wrong", WithDigestMD5(), WithAuthzid("victim"))
	var se *SASLError
	if !errors.As(err, &se) {
		t.Errorf("DIGEST-MD5 with a wrong password: %v, want a SASL failure", err)
	}
}

// TestEjabberdWithTheDisabledMechanismsOffersOnlySCRAMWhateverThePasswordStorage:
// with disabledMechanisms, ejabberd 23.01 offers only SCRAM, whether it
// stores passwords as SCRAM hashes or in plain text, and refuses
// DIGEST-MD5 from a client that sends it unoffered.
func TestEjabberdWithTheDisabledMechanismsOffersOnlySCRAMWhateverThePasswordStorage(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(map[bool]string{false: "SCRAM storage", true: "plain storage"}[plain], func(t *testing.T) {
			p := NewServerOf(t, KindEjabberd, Config{PlainPasswords: plain, DisableSASLMechanisms: disabledMechanisms})
			ctx := testCtx(t, 60*time.Second)
			registerAll(ctx, t, p, "mallory", "victim")
			got, err := p.SASLMechanisms(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got {
				if !strings.HasPrefix(m, "SCRAM-") {
					t.Errorf("mechanisms %q: %s is not SCRAM", got, m)
				}
			}
			c, err := p.ConnectRaw(ctx, "mallory", "mallorypw", WithDigestMD5(), WithAuthzid("victim"), WithForcedMechanism())
			if err == nil {
				t.Errorf("unoffered DIGEST-MD5 with authzid victim: bound %q", c.JID())
				c.Close()
			}
		})
	}
}

// TestEjabberdWithoutPlainRefusesAnAuthzidOfAnotherAccount: ejabberd 23.01
// with disabledMechanisms (auth_password_format: scram, as in the harness)
// offers SCRAM-SHA-1 alone, refuses PLAIN even from a client that sends it
// unoffered, and still logs the harness's users in, with SCRAM-SHA-1.
func TestEjabberdWithoutPlainRefusesAnAuthzidOfAnotherAccount(t *testing.T) {
	testWithoutPlain(t, KindEjabberd)
}

// TestProsodyWithoutPlainStillLogsInWithSCRAM: the same configuration,
// rendered for Prosody (which needs none of it), behaves the same.
func TestProsodyWithoutPlainStillLogsInWithSCRAM(t *testing.T) {
	testWithoutPlain(t, KindProsody)
}

func testWithoutPlain(t *testing.T, kind Kind) {
	p := NewServerOf(t, kind, Config{DisableSASLMechanisms: disabledMechanisms})
	ctx := testCtx(t, 60*time.Second)
	d := p.Domain
	registerAll(ctx, t, p, "mallory", "victim")

	t.Run("offers SCRAM-SHA-1 alone", func(t *testing.T) {
		got, err := p.SASLMechanisms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"SCRAM-SHA-1"}; !slices.Equal(got, want) {
			t.Errorf("mechanisms %q, want %q", got, want)
		}
	})
	t.Run("a PLAIN client finds no PLAIN", func(t *testing.T) {
		_, err := p.ConnectRaw(ctx, "mallory", "mallorypw", WithAuthzid("victim@"+d))
		if err == nil || !strings.Contains(err.Error(), "server offers no SASL PLAIN") {
			t.Fatalf("err = %v, want no PLAIN offered", err)
		}
	})
	t.Run("PLAIN sent anyway is refused", func(t *testing.T) {
		for _, authzid := range []string{"victim@" + d, ""} {
			c, err := p.ConnectRaw(ctx, "mallory", "mallorypw", WithAuthzid(authzid), WithForcedMechanism())
			var se *SASLError
			if !errors.As(err, &se) || se.Condition != "invalid-mechanism" {
				if c != nil {
					t.Errorf("authzid %q: bound %q", authzid, c.JID())
					c.Close()
				}
				t.Fatalf("authzid %q: err = %v, want SASL failure invalid-mechanism", authzid, err)
			}
			t.Logf("unoffered PLAIN %q: %v", plainMessage(authzid, "mallory", "mallorypw"), err)
		}
	})
	t.Run("a user logs in with SCRAM-SHA-1", func(t *testing.T) {
		for _, authzid := range []string{"", "victim@" + d} {
			var wire webtest.SyncBuffer
			u, err := p.Connect(ctx, "mallory", "mallorypw", Approve, WithUserAuthzid(authzid), WithWireLog(&wire))
			if err != nil {
				t.Fatalf("authzid %q: %v", authzid, err)
			}
			scram := scramAuth(wire.String())
			u.Close()
			if scram == "" {
				t.Errorf("authzid %q: no SCRAM-SHA-1 <auth/> in\n%s", authzid, wire.String())
			}
			if got := u.JID.Bare().String(); got != "mallory@"+d {
				t.Errorf("authzid %q: bound %q, want mallory@%s", authzid, u.JID, d)
			}
		}
		// NewUser is how the rest of the harness logs users in.
		p.NewUser(t, "alice", Approve, userOpts()...)
	})
}

// fmtDomain replaces the %s in s, if any, with domain.
func fmtDomain(s, domain string) string { return strings.ReplaceAll(s, "%s", domain) }

// scramAuth returns the decoded client-first message of the SCRAM-SHA-1
// <auth/> in a User's wire log, or "".
func scramAuth(wire string) string {
	const open = `mechanism="SCRAM-SHA-1">`
	i := strings.Index(wire, open)
	if i < 0 {
		return ""
	}
	rest := wire[i+len(open):]
	end := strings.IndexByte(rest, '<')
	if end < 0 {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(rest[:end])
	if err != nil {
		return ""
	}
	return string(b)
}

// registerAll creates the accounts, each with the password name+"pw".
func registerAll(ctx context.Context, t *testing.T, p *Server, names ...string) {
	t.Helper()
	for _, a := range names {
		if err := p.Register(ctx, a, a+"pw"); err != nil {
			t.Fatal(err)
		}
	}
}
