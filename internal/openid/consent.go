package openid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"go.uber.org/zap"
)

// A client that is not trusted (not the operator's own) gets a visitor's
// consent before it learns who they are: once, remembered in storage per
// client and address, and again when it asks for a scope not granted yet,
// or with prompt=consent.

// consentClaims are the scopes a visitor is asked about, as keys of the
// consent page's texts.
var consentClaims = map[string]string{
	oidc.ScopeOpenID:        "claim_openid",
	oidc.ScopeProfile:       "claim_profile",
	oidc.ScopeEmail:         "claim_email",
	oidc.ScopeOfflineAccess: "claim_offline_access",
}

// consent asks for, or reads, the visitor's consent to a. It reports
// whether it answered the request; when it did not, the visitor has
// consented and the login goes on.
func (p *Provider) consent(w http.ResponseWriter, r *http.Request, a *authRequest, cl *client, jid string) (bool, error) {
	scopes := asked(a.GetScopes())
	if !a.prompts(oidc.PromptConsent) && p.consented(r.Context(), cl.ID, jid, scopes) {
		return false, nil
	}
	if a.prompts(oidc.PromptNone) {
		p.fail(w, r, a, &oidc.Error{ErrorType: "consent_required", Description: "the visitor has not consented to this client"})
		return true, nil
	}
	if r.Method != http.MethodPost {
		claims := make([]string, len(scopes))
		for i, s := range scopes {
			claims[i] = consentClaims[s]
		}
		return true, p.gate.AskConsent(w, r, jid, cl.Name, claims)
	}
	valid, allow := p.gate.ConsentPosted(r)
	switch {
	case !valid:
		return true, p.gate.ShowInvalid(w, r, "This answer did not come from the consent page of this site.")
	case !allow:
		p.log.Info("consent refused", zap.String("jid", jid), zap.String("client", cl.ID))
		p.fail(w, r, a, oidc.ErrAccessDenied().WithDescription("the visitor did not consent"))
		return true, nil
	}
	// What was granted before stays granted.
	b, _ := json.Marshal(asked(append(p.granted(r.Context(), cl.ID, jid), scopes...)))
	if err := p.st.Store(context.WithoutCancel(r.Context()), p.consentKey(cl.ID, jid), b); err != nil {
		// The login goes on; the visitor is asked again next time.
		p.log.Warn("cannot keep a consent", zap.String("client", cl.ID), zap.Error(err))
	}
	return false, nil
}

// asked are the scopes of a request the visitor is asked about, sorted.
func asked(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if _, ok := consentClaims[s]; ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// consented reports whether jid has consented to every scope in scopes
// for client.
func (p *Provider) consented(ctx context.Context, client, jid string, scopes []string) bool {
	granted := p.granted(ctx, client, jid)
	for _, s := range scopes {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return len(granted) > 0
}

// granted is what jid has consented to for client.
func (p *Provider) granted(ctx context.Context, client, jid string) []string {
	b, err := p.st.Load(ctx, p.consentKey(client, jid))
	if err != nil {
		return nil
	}
	var granted []string
	if json.Unmarshal(b, &granted) != nil {
		return nil
	}
	return granted
}

// consentKey is where the consent of jid to client is kept: a hash, so
// that storage keys tell neither.
func (p *Provider) consentKey(client, jid string) string {
	sum := sha256.Sum256([]byte(client + "\x00" + jid))
	return p.dir + "consent/" + hex.EncodeToString(sum[:16])
}

// fail ends a with an error sent to the client's redirect URI.
func (p *Provider) fail(w http.ResponseWriter, r *http.Request, a *authRequest, err error) {
	_ = (opStorage{p}).DeleteAuthRequest(r.Context(), a.GetID())
	op.AuthRequestError(w, r, a, err, p.op)
}
