package openid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// claims says what an XMPP address can honestly claim.
type claims struct {
	subjectKey    []byte // nil: the subject is the bare JID
	localUsername bool
	emailDomains  []string
	emailVerified bool
}

// subject is the sub claim of a bare JID. By default a keyed hash, with a
// key made once per issuer and never rotated: stable (OpenID Connect Core
// §2: never reassigned), 43 ASCII characters whatever the address (a bare
// JID may have 2 047 bytes of Unicode, and sub at most 255 ASCII
// characters), and telling nothing about the address to someone who sees
// only the sub. The bare JID itself is the operator's choice.
func (c claims) subject(bare string) string {
	if c.subjectKey == nil {
		return bare
	}
	m := hmac.New(sha256.New, c.subjectKey)
	m.Write([]byte(bare))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// fill writes the claims of bare that scopes ask for into ui.
func (c claims) fill(ui *oidc.UserInfo, bare, subject string, scopes []string) {
	ui.Subject = subject
	local, domain, _ := strings.Cut(bare, "@")
	for _, s := range scopes {
		switch s {
		case oidc.ScopeProfile:
			ui.PreferredUsername = bare
			if c.localUsername {
				ui.PreferredUsername = local
			}
			ui.Name = local
		case oidc.ScopeEmail:
			// Only where the operator says the address is a mailbox too,
			// and verified only where they say so: applications link
			// accounts by a verified email, so a verified flag on an
			// address nobody verified would let its holder take over an
			// account.
			if slices.Contains(c.emailDomains, domain) {
				ui.Email = bare
				ui.AppendClaims("email_verified", c.emailVerified)
			}
		}
	}
}
