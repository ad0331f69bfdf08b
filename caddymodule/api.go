package caddymodule

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// The HTTP API of the standalone component HTTPAuthenticationOverXMPP,
// served through the shared component connection, so that an application
// written for that component (the Django "XmppBackend" recipe, say) only
// changes the URL it calls:
//
//	GET /auth?jid=user%40host%2Fres&domain=example.org&method=POST&transaction_id=abcd&timeout=120
//
// Choices, where the reference component was silent or is changed:
//
//   - Parameters come from the query string and, for a POST, from an
//     application/x-www-form-urlencoded body (whose values win, as
//     net/http's ParseForm does); pairs may be separated by "&" or ";".
//     The first value of a repeated parameter counts.
//   - domain is required, as in the reference. It names the site in the
//     message body, verbatim. The <confirm/>'s url is the domain itself
//     when it is already an http(s) URL, else "https://" + domain.
//   - transaction_id is optional again: when missing a code is generated
//     (xepauth.NewCode) and returned in the X-Transaction-Id header of
//     every answer. A transaction id shares the Basic logins' memory
//     (basic.go): once asked of a JID it is spent, whatever the outcome,
//     for max(2×timeout, 4m), and asking it of the same JID again gets
//     401 without a new request. Identical concurrent calls share one ask.
//   - Status: 200 approved; 400 a parameter missing or malformed; 401
//     denied, timed out or a spent transaction id; 403 a caller who may
//     not use the API; 405 a method other than GET or POST; 429 over a
//     limit (nothing sent); 520 an outcome the handler does not know
//     (cannot happen with today's xepauth, kept as the reference's
//     catch-all); 523 the XMPP server or the account unreachable.
//   - Access: by default only callers from loopback and private networks
//     (the client IP as Caddy sees it, honouring trusted_proxies). With
//     bearer_token, "Authorization: Bearer <token>" is required instead,
//     from anywhere unless allow_from is given too (then both are needed).
//     A wrong or missing token gets 403, not 401, which callers of this
//     API read as "the user refused".
//   - The limits are the gate's: the per-IP ones count the calling
//     application's address, so a busy application may need higher
//     ip_open / ip_per_window in the global limits block.

func init() {
	caddy.RegisterModule(new(APIHandler))
	httpcaddyfile.RegisterHandlerDirective("xmpp_auth_api", parseAPIDirective)
	httpcaddyfile.RegisterDirectiveOrder("xmpp_auth_api", httpcaddyfile.Before, "basic_auth")
}

const (
	apiDefaultTimeout = 60 * time.Second
	apiMaxTimeout     = 300 * time.Second
	// apiMaxParams bounds the pairs read from a query or a form.
	apiMaxParams = 64
	// apiMaxBody bounds a POSTed form.
	apiMaxBody = 64 << 10
	// apiMaxDomain bounds the domain parameter.
	apiMaxDomain = 1024
	// apiTxIDHeader carries a generated transaction id back to the caller.
	apiTxIDHeader = "X-Transaction-Id"
	// StatusUnknownError and StatusUnreachable are the reference
	// component's codes (Cloudflare's numbers).
	statusUnknownError = 520
	statusUnreachable  = 523
)

// defaultAPINetworks are the callers admitted without a token: loopback
// and private networks.
var defaultAPINetworks = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

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

	gate     *gate
	token    []byte // sha256 of the resolved token, nil without one
	networks []netip.Prefix
	texts    *Handler // only its languages are used (lang.go)
	logger   *zap.Logger
	proxies  *nonStrictProxies
}

// CaddyModule returns the Caddy module information.
func (*APIHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xmpp_auth_api",
		New: func() caddy.Module { return new(APIHandler) },
	}
}

// Provision finds the xmpp_auth app and reads the options.
func (h *APIHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.proxies = new(nonStrictProxies)
	appIface, err := ctx.AppIfConfigured("xmpp_auth")
	if err != nil {
		if errors.Is(err, caddy.ErrNotConfigured) {
			return errors.New("xmpp_auth_api handler: no XMPP component configured; add the global option " +
				"xmpp_auth { server 127.0.0.1:5347; domain auth.example.org; secret {env.XMPP_COMPONENT_SECRET} } " +
				"(JSON: apps.xmpp_auth)")
		}
		return fmt.Errorf("xmpp_auth_api handler: load the xmpp_auth app: %w", err)
	}
	h.gate = appIface.(*App).gate

	if h.BearerToken != "" {
		tok := caddy.NewReplacer().ReplaceKnown(h.BearerToken, "")
		if tok == "" {
			return fmt.Errorf("xmpp_auth_api handler: bearer_token %q is empty once resolved (is the variable set?)", h.BearerToken)
		}
		sum := sha256.Sum256([]byte(tok))
		h.token = sum[:]
	}
	nets := h.AllowFrom
	if len(nets) == 0 && h.token == nil {
		nets = defaultAPINetworks
	}
	h.networks = nil
	for _, n := range nets {
		p, err := parseNetwork(n)
		if err != nil {
			return fmt.Errorf("xmpp_auth_api handler: allow_from: %w", err)
		}
		h.networks = append(h.networks, p)
	}

	if h.DefaultTimeout == 0 {
		h.DefaultTimeout = caddy.Duration(apiDefaultTimeout)
	}
	if h.DefaultTimeout < 0 || time.Duration(h.DefaultTimeout) > apiMaxTimeout {
		return fmt.Errorf("xmpp_auth_api handler: default_timeout %s is not between 0 and %s", time.Duration(h.DefaultTimeout), apiMaxTimeout)
	}
	h.texts = &Handler{Language: h.Language, Messages: h.Messages}
	if err := h.texts.provisionLanguages(); err != nil {
		return fmt.Errorf("xmpp_auth_api handler: %w", err)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *APIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.proxies.check(r, h.logger)
	if ok, why := h.admitsCaller(r); !ok {
		h.logger.Info("API call refused", zap.String("remote_ip", clientIP(r)), zap.String("reason", why))
		return apiPlain(w, http.StatusForbidden, why)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return apiPlain(w, http.StatusMethodNotAllowed, "use GET or POST")
	}
	values, err := requestParams(r)
	if err != nil {
		return apiPlain(w, http.StatusBadRequest, err.Error())
	}
	p, err := parseAPIParams(values, time.Duration(h.DefaultTimeout))
	if err != nil {
		return apiPlain(w, http.StatusBadRequest, err.Error())
	}
	if p.generated {
		w.Header().Set(apiTxIDHeader, p.txid)
	}
	if h.ownDomain(p.jid) {
		return apiPlain(w, http.StatusBadRequest, "jid is the component's own address, not a person's")
	}
	return h.ask(w, r, p)
}

func (h *APIHandler) ownDomain(j jid.JID) bool {
	return j.Domainpart() == h.gate.comp.Domain().Domainpart()
}

// ask asks p's JID and answers with the outcome; it shares the Basic
// logins' transaction memory (basicState) and the gate's limits.
func (h *APIHandler) ask(w http.ResponseWriter, r *http.Request, p apiParams) error {
	bare := p.jid.Bare().String()
	ip, now := clientIP(r), time.Now()
	key := basicKey{bare: bare, txid: xepauth.NormaliseCode(p.txid)}
	// The method is marked so that the HEAD/OPTIONS carry-over of Basic
	// logins never applies to an API call, and so that an API call never
	// joins a Basic login's ask.
	id := basicIdentity{full: p.jid.String(), method: "xmpp_auth_api " + p.method, url: p.url, site: p.domain, ip: ip}
	tx, verdict, err := h.gate.admitTransaction(key, id, ip, p.timeout, now)
	log := h.logger.With(zap.String("jid", p.jid.String()), zap.String("method", p.method),
		zap.String("domain", p.domain), zap.String("remote_ip", ip))

	switch verdict {
	case basicReused, basicCarried:
		return apiPlain(w, http.StatusUnauthorized, "this transaction id has been used for this JID; choose a new one")
	case basicInUse:
		return apiPlain(w, http.StatusUnauthorized, "this transaction id is in use by another request for this JID; choose a new one")
	case basicCrowded:
		return apiPlain(w, http.StatusTooManyRequests, "too many identical requests are waiting for this confirmation")
	case basicFull:
		return apiPlain(w, http.StatusTooManyRequests, "too many transactions remembered; try again later")
	case basicLimited:
		log.Debug("API call refused by a limit", zap.Error(err))
		if errors.Is(err, errBasicNotConnected) {
			return apiPlain(w, statusUnreachable, "XMPP server unreachable; nothing was sent")
		}
		return apiPlain(w, http.StatusTooManyRequests, err.Error()+"; nothing was sent")
	case basicAsk:
		req := xepauth.Request{
			JID:      p.jid,
			Site:     p.domain,
			URL:      p.url,
			Method:   p.method,
			Code:     p.txid,
			Language: h.texts.messageLang(r),
			Messages: h.texts.xmppMessages(),
		}
		log.Info("confirmation asked (API)")
		h.gate.askTransaction(tx, req)
	}

	o, ok := h.gate.waitTransaction(r, tx)
	if !ok {
		w.WriteHeader(499) // the caller has gone, as Caddy's reverse proxy records it
		return nil
	}
	log.Info("confirmation answered (API)", zap.Stringer("result", o.Result), zap.String("via", o.Via), zap.String("detail", o.Detail))
	return apiPlain(w, apiStatus(o.Result), apiMessage(o.Result))
}

// apiStatus maps an outcome to the reference component's status codes.
func apiStatus(r xepauth.Result) int {
	switch r {
	case xepauth.Approved:
		return http.StatusOK
	case xepauth.Denied, xepauth.Timeout:
		return http.StatusUnauthorized
	case xepauth.Unreachable:
		return statusUnreachable
	}
	return statusUnknownError
}

func apiMessage(r xepauth.Result) string {
	switch r {
	case xepauth.Approved:
		return "approved"
	case xepauth.Denied:
		return "the XMPP account refused the request"
	case xepauth.Timeout:
		return "no answer came from the XMPP account in time"
	case xepauth.Unreachable:
		return "the XMPP account or its server could not be reached"
	}
	return "unknown outcome"
}

// apiPlain writes a short plain-text answer.
func apiPlain(w http.ResponseWriter, status int, msg string) error {
	text := http.StatusText(status)
	switch status {
	case statusUnknownError:
		text = "Unknown Error"
	case statusUnreachable:
		text = "Unreachable"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := fmt.Fprintf(w, "%d %s: %s\n", status, text, msg)
	return err
}
