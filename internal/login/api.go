package login

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"go.uber.org/zap"

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
//     every answer. A call is a transaction (transactions.go), as a Basic
//     login is: once asked of a JID the id is spent, and asking it of the
//     same JID again gets 401 without a new request. Identical concurrent
//     calls share one ask.
//   - Status: 200 approved; 400 a parameter missing or malformed; 401
//     denied, timed out or a spent transaction id; 403 a caller who may
//     not use the API; 405 a method other than GET or POST; 429 over a
//     limit (nothing sent); 520 an outcome the handler does not know
//     (cannot happen with today's xepauth, kept as the reference's
//     catch-all); 523 the XMPP server or the account unreachable. Each
//     answer has a one-line body: they are the API's answers, not errors.
//   - Access: by default only callers from loopback and private networks
//     (apiaccess.go). With a bearer token, "Authorization: Bearer <token>"
//     is required instead, from anywhere unless networks are given too
//     (then both are needed). A wrong or missing token gets 403, not 401,
//     which callers of this API read as "the user refused".
//   - The limits are the gate's: the per-network ones count the calling
//     application's address, so a busy application may need higher ones.

const (
	apiDefaultTimeout = 60 * time.Second
	// APIMaxTimeout is the longest a call may wait for its answer.
	APIMaxTimeout = 300 * time.Second
	// apiMaxParams bounds the pairs read from a query or a form.
	apiMaxParams = 64
	// apiMaxBody bounds a POSTed form.
	apiMaxBody = 64 << 10
	// apiMaxDomain bounds the domain parameter.
	apiMaxDomain = 1024
	// apiTxIDHeader carries a generated transaction id back to the caller.
	apiTxIDHeader = "X-Transaction-Id"
	// statusUnknownError and statusUnreachable are the reference
	// component's codes (Cloudflare's numbers).
	statusUnknownError = 520
	statusUnreachable  = 523
)

// DefaultAPINetworks are the callers admitted without a token: loopback
// and private networks.
var DefaultAPINetworks = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// APIConfig is the /auth API's configuration, placeholders resolved.
type APIConfig struct {
	// BearerToken, when set, is required as "Authorization: Bearer
	// <token>"; callers with it are admitted from any network, unless
	// AllowFrom is set too.
	BearerToken string
	// AllowFrom lists the networks (CIDR, or single addresses) callers may
	// come from. Default: DefaultAPINetworks without a token, anywhere
	// with one.
	AllowFrom []string
	// DefaultTimeout is how long a call without a valid timeout parameter
	// waits, at most APIMaxTimeout. Default: 60s.
	DefaultTimeout time.Duration
	// Language is the message's language when the caller's
	// Accept-Language names none there is. Default: en.
	Language string
	// Messages is a file of XMPP message texts. Default: the built-in ones.
	Messages string
}

// API serves the /auth API: it asks a JID to confirm, through the
// Service, and answers with the outcome as a status code.
type API struct {
	svc      *Service
	env      Env
	log      *zap.Logger
	token    []byte // sha256 of the token, nil without one
	networks []netip.Prefix
	timeout  time.Duration
	langs    languages
}

// NewAPI checks cfg and makes the API: the one way it is made.
func NewAPI(svc *Service, cfg APIConfig, env Env) (*API, error) {
	a := &API{svc: svc, env: env.withDefaults()}
	a.log = a.env.Logger
	if cfg.BearerToken != "" {
		sum := sha256.Sum256([]byte(cfg.BearerToken))
		a.token = sum[:]
	}
	nets := cfg.AllowFrom
	if len(nets) == 0 && a.token == nil {
		nets = DefaultAPINetworks
	}
	for _, n := range nets {
		p, err := ParseNetwork(n)
		if err != nil {
			return nil, fmt.Errorf("allow_from: %w", err)
		}
		a.networks = append(a.networks, p)
	}
	a.timeout = orDefault(cfg.DefaultTimeout, apiDefaultTimeout)
	if a.timeout < 0 || a.timeout > APIMaxTimeout {
		return nil, fmt.Errorf("default_timeout %s is not between 0 and %s", a.timeout, APIMaxTimeout)
	}
	var err error
	if a.langs, _, err = loadLanguages(orDefault(cfg.Language, "en"), cfg.Messages, ""); err != nil {
		return nil, err
	}
	return a, nil
}

// ServeHTTP answers one call.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if ok, why := a.admitsCaller(r); !ok {
		a.log.Info("API call refused", zap.String("remote_ip", a.env.ClientIP(r)), zap.String("reason", why))
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
	p, err := parseAPIParams(values, a.timeout)
	if err != nil {
		return apiPlain(w, http.StatusBadRequest, err.Error())
	}
	if p.generated {
		w.Header().Set(apiTxIDHeader, p.txid)
	}
	if a.svc.ownDomain(p.jid) {
		return apiPlain(w, http.StatusBadRequest, "jid is the component's own address, not a person's")
	}
	return a.ask(w, r, p)
}

// ask asks p's JID, as a transaction, and answers with the outcome.
func (a *API) ask(w http.ResponseWriter, r *http.Request, p apiParams) error {
	ip := a.env.ClientIP(r)
	log := a.log.With(zap.String("jid", p.jid.String()), zap.String("method", p.method),
		zap.String("domain", p.domain), zap.String("remote_ip", ip))
	o, _, err := a.svc.transact(r, txRequest{
		key: txKey{bare: p.jid.Bare().String(), txid: xepauth.NormaliseCode(p.txid)},
		// The method is marked so that the HEAD/OPTIONS carry-over of
		// Basic logins never applies to an API call, and so that an API
		// call never joins a Basic login's ask.
		id:      txIdentity{full: p.jid.String(), method: "xmpp_auth_api " + p.method, url: p.url, site: p.domain, ip: ip},
		ip:      ip,
		timeout: p.timeout,
		ask: xepauth.Request{
			JID:      p.jid,
			Site:     p.domain,
			URL:      p.url,
			Method:   p.method,
			Code:     p.txid,
			Language: a.langs.messageLang(r),
			Messages: a.langs.messages,
		},
	})
	var refused *refusal
	switch {
	case errors.Is(err, errGone):
		w.WriteHeader(499) // the caller has gone, as Caddy's reverse proxy records it
		return nil
	case errors.As(err, &refused):
		log.Debug("API call not asked", zap.Error(err))
		switch refused.kind {
		case refusedSpent:
			return apiPlain(w, http.StatusUnauthorized, "this transaction id has been used for this JID; choose a new one")
		case refusedInUse:
			return apiPlain(w, http.StatusUnauthorized, "this transaction id is in use by another request for this JID; choose a new one")
		case refusedNotConnected:
			return apiPlain(w, statusUnreachable, refused.Error())
		}
		return apiPlain(w, http.StatusTooManyRequests, refused.Error())
	}
	a.env.Metrics.Asked(o.Result.String())
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
