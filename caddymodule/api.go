package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
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

// parseNetwork reads a CIDR or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (like 10.0.0.0/8): %v", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a network (like 10.0.0.0/8)", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// admitsCaller reports whether the caller may use the API: the token, when
// one is configured, and the network, when a list applies.
func (h *APIHandler) admitsCaller(r *http.Request) (bool, string) {
	if h.token != nil {
		got, ok := bearerToken(r.Header)
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], h.token) != 1 {
			return false, "a valid Authorization: Bearer token is required"
		}
	}
	if h.networks == nil {
		return true, ""
	}
	if !inNetworks(clientIP(r), h.networks) {
		return false, "this API only answers callers from the allowed networks"
	}
	return true, ""
}

// inNetworks reports whether ip (an IPv4-mapped IPv6 address counts as
// IPv4) lies in one of nets.
func inNetworks(ip string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// bearerToken returns the token of the one "Authorization: Bearer" header.
func bearerToken(hdr http.Header) (string, bool) {
	values := hdr.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	tok = strings.TrimSpace(tok)
	return tok, strings.EqualFold(scheme, "Bearer") && tok != ""
}

// apiParams are the API's parameters once checked.
type apiParams struct {
	jid       jid.JID
	domain    string
	url       string // for the <confirm/>
	method    string
	txid      string
	generated bool // txid was made here
	timeout   time.Duration
}

// errParam is a 400: what is wrong with the parameters.
type errParam string

func (e errParam) Error() string { return string(e) }

// parseAPIParams reads the parameters of a call from values (first value
// of each name; see splitParams); def is the timeout when none is given.
func parseAPIParams(values url.Values, def time.Duration) (apiParams, error) {
	var p apiParams
	get := values.Get

	raw := strings.TrimSpace(get("jid"))
	if raw == "" {
		return p, errParam("missing parameter jid")
	}
	j, err := jid.Parse(raw)
	switch {
	case err != nil:
		return p, errParam("jid is not a valid JID")
	case j.Localpart() == "":
		return p, errParam("jid has no local part (name@example.org)")
	case len(j.Bare().String()) > maxJIDLen:
		return p, errParam("jid is too long")
	}
	p.jid = j

	p.domain = strings.TrimSpace(get("domain"))
	switch {
	case p.domain == "":
		return p, errParam("missing parameter domain")
	case len(p.domain) > apiMaxDomain:
		return p, errParam("domain is too long")
	case strings.IndexFunc(p.domain, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return p, errParam("domain has spaces or control characters")
	}
	p.url = confirmURL(p.domain)

	p.method = get("method")
	if p.method == "" {
		return p, errParam("missing parameter method")
	}
	if err := (xepauth.Confirm{ID: "x", URL: "x", Method: p.method}).Validate(); err != nil {
		return p, errParam("method must be an XML NCName, like GET or POST")
	}

	if _, given := values["transaction_id"]; given {
		p.txid = get("transaction_id")
		if p.txid == "" {
			return p, errParam("transaction_id is empty; leave it out to have one generated")
		}
		if err := checkTxID(p.txid); err != nil {
			return p, errParam(err.Error())
		}
	} else {
		p.txid, p.generated = xepauth.NewCode(6), true
	}

	p.timeout = apiTimeout(get("timeout"), def)
	return p, nil
}

// confirmURL is the url of the <confirm/>: the domain when it is already
// an http(s) URL, else https:// and the domain.
func confirmURL(domain string) string {
	if u, err := url.Parse(domain); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return domain
	}
	return "https://" + domain
}

// apiTimeout reads the timeout parameter as the reference does: seconds,
// def when missing, not a number or not positive, at most 300.
func apiTimeout(s string, def time.Duration) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil || n <= 0:
		return def
	case n > int(apiMaxTimeout/time.Second):
		return apiMaxTimeout
	}
	return time.Duration(n) * time.Second
}

// splitParams parses a query string or a form whose pairs are separated by
// "&" or ";" (net/url refuses ";" since Go 1.17). Names and values are
// percent-decoded, "+" as a space. Pairs past max are an error, as is a
// bad escape.
func splitParams(raw string, max int) (url.Values, error) {
	out := url.Values{}
	n := 0
	for len(raw) > 0 {
		var pair string
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, ""
		}
		if pair == "" {
			continue
		}
		if n++; n > max {
			return nil, fmt.Errorf("more than %d parameters", max)
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("parameter name %q is not properly percent-encoded", shortenParam(pair))
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("parameter %q is not properly percent-encoded", shortenParam(k))
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func shortenParam(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// requestParams gathers the parameters of r: a POSTed form first, then
// the query.
func requestParams(r *http.Request) (url.Values, error) {
	values := url.Values{}
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/x-www-form-urlencoded" {
			body, err := io.ReadAll(io.LimitReader(r.Body, apiMaxBody+1))
			if err != nil {
				return nil, errors.New("could not read the form")
			}
			if len(body) > apiMaxBody {
				return nil, errors.New("form too large")
			}
			if values, err = splitParams(string(body), apiMaxParams); err != nil {
				return nil, err
			}
		}
	}
	query, err := splitParams(r.URL.RawQuery, apiMaxParams)
	if err != nil {
		return nil, err
	}
	for k, v := range query {
		values[k] = append(values[k], v...)
	}
	return values, nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *APIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
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
	actx, cancel := context.WithTimeout(h.gate.ctx, p.timeout)
	call, verdict, err := h.gate.basic.admit(key, id, now, cancel, func() error {
		if !h.gate.comp.Connected() {
			return errBasicNotConnected
		}
		return h.gate.limits.acquire(bare, ip, now)
	})
	if verdict != basicAsk {
		cancel()
	}
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
		usedFor := max(2*p.timeout, 2*basicCarryOver)
		log.Info("confirmation asked (API)")
		go func() {
			o := h.gate.comp.Ask(actx, req)
			cancel()
			h.gate.limits.release(bare, ip)
			h.gate.basic.finish(key, call, o, time.Now(), usedFor)
		}()
	}

	select {
	case <-call.done:
	case <-r.Context().Done():
		h.gate.basic.leave(call)
		w.WriteHeader(499) // the caller has gone, as Caddy's reverse proxy records it
		return nil
	}
	o := call.outcome
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

// parseAPIDirective sets up the handler from the directive:
//
//	xmpp_auth_api [<matcher>] {
//		bearer_token    <secret>
//		allow_from      <cidr>...
//		default_timeout <duration>
//		language        <lang>
//		messages        <file>
//	}
func parseAPIDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(APIHandler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile reads the directive and its optional block.
func (h *APIHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "bearer_token":
			err = oneArg(d, &h.BearerToken)
		case "allow_from":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, err := parseNetwork(a); err != nil {
					return d.Errf("xmpp_auth_api: allow_from: %v", err)
				}
			}
			h.AllowFrom = append(h.AllowFrom, args...)
		case "default_timeout":
			err = durationArg(d, &h.DefaultTimeout)
		case "language":
			err = oneArg(d, &h.Language)
		case "messages":
			err = oneArg(d, &h.Messages)
		default:
			return d.Errf("xmpp_auth_api: unknown option %q (want bearer_token, allow_from, default_timeout, language or messages)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*APIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*APIHandler)(nil)
	_ caddyfile.Unmarshaler       = (*APIHandler)(nil)
)
