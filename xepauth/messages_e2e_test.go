package xepauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/xmpptest"
	"github.com/xepauth/caddy-xepauth/xepauth"
)

func TestSuppliedMessagesReachTheUserInTheirLanguage(t *testing.T) {
	r := newRig(t, xepauth.Config{})
	alice := r.p.NewUser(t, "alice", xmpptest.Silent)
	msgs := xepauth.Messages{"fr": "Connexion à {site} ({method} {url}) : code {code}", "en": "_DOMAIN_ wants _VALIDE_CODE_"}
	for lang, want := range map[string]string{
		"fr-FR": "Connexion à wiki.example.org (GET https://wiki.example.org/x) : code ",
		"en":    "wiki.example.org wants ",
	} {
		code := xepauth.NewCode(6)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		r.comp.Ask(ctx, xepauth.Request{JID: alice.JID.Bare(), Site: "wiki.example.org", URL: "https://wiki.example.org/x",
			Method: "GET", Code: code, Language: lang, Messages: msgs})
		cancel()
		req, err := alice.NextRequest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if req.Body != want+code {
			t.Errorf("%s: alice got %q, want %q", lang, req.Body, want+code)
		}
	}
}
