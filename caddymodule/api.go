package caddymodule

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/xepauth/caddy-xepauth/internal/login"
)

// The HTTP API of the standalone component HTTPAuthenticationOverXMPP,
// served through the shared component connection (see internal/login's
// api.go for its parameters, status codes and choices).

func init() {
	caddy.RegisterModule(new(APIHandler))
	httpcaddyfile.RegisterHandlerDirective("xmpp_auth_api", parseAPIDirective)
	httpcaddyfile.RegisterDirectiveOrder("xmpp_auth_api", httpcaddyfile.Before, "basic_auth")
}

// APIHandler serves the /auth API of HTTPAuthenticationOverXMPP: it asks a
// JID to confirm, through the xmpp_auth app's component, and answers with
// the outcome as a status code. It never calls the next handler.
type APIHandler struct {
	// BearerToken, when set, is required as "Authorization: Bearer
	// <token>" (placeholders such as {env.XEPAUTH_API_TOKEN} are resolved
	// at load). Callers with it are admitted from any network, unless
	// AllowFrom is set too.
	BearerToken string `json:"bearer_token,omitempty"`
	// AllowFrom lists the networks (CIDR, or single addresses) callers
	// may come from. Default without a bearer token: loopback and private
	// networks (127.0.0.0/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7).
	// Default with a bearer token: anywhere.
	AllowFrom []string `json:"allow_from,omitempty"`
	// DefaultTimeout is how long a call waits for the answer when it has
	// no valid timeout parameter (the reference's http_timeout_sec); at
	// most 5m. Default: 60s.
	DefaultTimeout caddy.Duration `json:"default_timeout,omitempty"`
	// Language is the XMPP message's language when the caller's
	// Accept-Language names none there is. Default: en.
	Language string `json:"language,omitempty"`
	// Messages is a file of XMPP message texts in the format of the
	// reference component's messages.lang. Default: the built-in texts.
	Messages string `json:"messages,omitempty"`

	api *login.API
}

// CaddyModule returns the Caddy module information.
func (*APIHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xmpp_auth_api",
		New: func() caddy.Module { return new(APIHandler) },
	}
}

// Provision reads the options and makes the API; it never dials.
func (h *APIHandler) Provision(ctx caddy.Context) error {
	app, err := theApp(ctx, "xmpp_auth_api handler")
	if err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	token := ""
	if h.BearerToken != "" {
		if token = repl.ReplaceKnown(h.BearerToken, ""); token == "" {
			return fmt.Errorf("xmpp_auth_api handler: bearer_token %q is empty once resolved (is the variable set?)", h.BearerToken)
		}
	}
	h.api, err = login.NewAPI(app.shared.svc, login.APIConfig{
		BearerToken:    token,
		AllowFrom:      h.AllowFrom,
		DefaultTimeout: time.Duration(h.DefaultTimeout),
		Language:       h.Language,
		Messages:       repl.ReplaceKnown(h.Messages, ""),
	}, newEnv(ctx, app.metrics))
	if err != nil {
		return fmt.Errorf("xmpp_auth_api handler: %w", err)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. The API answers every
// request itself, with the reference component's status codes and a line
// of text: they are its answers, not errors. It never calls next.
func (h *APIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return h.api.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*APIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*APIHandler)(nil)
)
