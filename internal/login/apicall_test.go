package login

import (
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

func TestSplitParamsTakesAmpersandsAndSemicolons(t *testing.T) {
	tests := []struct {
		raw  string
		want url.Values
	}{
		{"jid=user%40host%2Fresource;domain=example.org;method=POST;transaction_id=abcd;timeout=120",
			url.Values{"jid": {"user@host/resource"}, "domain": {"example.org"}, "method": {"POST"}, "transaction_id": {"abcd"}, "timeout": {"120"}}},
		{"jid=user%40host&domain=example.org&method=GET&timeout=60&transaction_id=x1",
			url.Values{"jid": {"user@host"}, "domain": {"example.org"}, "method": {"GET"}, "timeout": {"60"}, "transaction_id": {"x1"}}},
		{"a=1;b=2&a=3", url.Values{"a": {"1", "3"}, "b": {"2"}}},
		{"a=x+y%2By;;&&b", url.Values{"a": {"x y+y"}, "b": {""}}},
		{"jid=a%3Bb%26c", url.Values{"jid": {"a;b&c"}}},
		{"", url.Values{}},
	}
	for _, tt := range tests {
		got, err := splitParams(tt.raw, 64)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitParams(%q) = %v, %v; want %v", tt.raw, got, err, tt.want)
		}
	}
	for _, bad := range []string{"jid=%zz", "%4=1", strings.Repeat("a=1&", 65)} {
		if _, err := splitParams(bad, 64); err == nil {
			t.Errorf("splitParams(%.20q…) accepted", bad)
		}
	}
}

func TestAPIParameterRules(t *testing.T) {
	base := func(kv ...string) url.Values {
		v := url.Values{"jid": {"alice@example.org"}, "domain": {"example.org"}, "method": {"POST"}, "transaction_id": {"abcd"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(v, kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	p, err := parseAPIParams(base(), time.Minute)
	if err != nil || p.jid.String() != "alice@example.org" || p.url != "https://example.org" || p.domain != "example.org" ||
		p.method != "POST" || p.txid != "abcd" || p.generated || p.timeout != time.Minute {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
	if p, _ := parseAPIParams(base("jid", "alice@example.org/laptop"), time.Minute); p.jid.Resourcepart() != "laptop" {
		t.Errorf("full JID lost its resource: %v", p.jid)
	}
	if p, _ := parseAPIParams(base("domain", "https://shop.example.org/login?next=/"), time.Minute); p.url != "https://shop.example.org/login?next=/" || p.domain != "https://shop.example.org/login?next=/" {
		t.Errorf("a URL domain: url %q, site %q", p.url, p.domain)
	}
	if p, _ := parseAPIParams(base("domain", "example.org:8443"), time.Minute); p.url != "https://example.org:8443" {
		t.Errorf("host:port domain: url %q", p.url)
	}
	p, err = parseAPIParams(base("transaction_id", "<unset>"), time.Minute)
	if err != nil || !p.generated || xepauth.ValidCode(p.txid) != nil || len(p.txid) != 6 {
		t.Errorf("generated id: %+v, %v", p, err)
	}
	for in, want := range map[string]time.Duration{"": time.Minute, "0": time.Minute, "-5": time.Minute, "abc": time.Minute,
		"1": time.Second, "120": 2 * time.Minute, "300": 5 * time.Minute, "301": 5 * time.Minute, "99999999999999999999": time.Minute} {
		if p, _ := parseAPIParams(base("timeout", in), time.Minute); p.timeout != want {
			t.Errorf("timeout %q = %v, want %v", in, p.timeout, want)
		}
	}
	if p, _ := parseAPIParams(base("timeout", "x"), 90*time.Second); p.timeout != 90*time.Second {
		t.Errorf("default_timeout not used: %v", p.timeout)
	}
	for name, v := range map[string]url.Values{
		"missing jid":          base("jid", "<unset>"),
		"empty jid":            base("jid", " "),
		"invalid jid":          base("jid", "not a jid@@"),
		"jid without local":    base("jid", "example.org"),
		"missing method":       base("method", "<unset>"),
		"bad method":           base("method", "PO ST"),
		"method with colon":    base("method", "x:y"),
		"missing domain":       base("domain", "<unset>"),
		"domain with newline":  base("domain", "example.org\nApprove now"),
		"empty transaction_id": base("transaction_id", ""),
		"refusal txid":         base("transaction_id", "no"),
		"txid without letters": base("transaction_id", "--"),
		"txid too long":        base("transaction_id", strings.Repeat("a", 65)),
		"txid control char":    base("transaction_id", "ab\x01cd"),
	} {
		if _, err := parseAPIParams(v, time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAPIStatusesAreTheReferenceComponents(t *testing.T) {
	for r, want := range map[xepauth.Result]int{xepauth.Approved: 200, xepauth.Denied: 401, xepauth.Timeout: 401, xepauth.Unreachable: 523, xepauth.Result(99): 520} {
		if got := apiStatus(r); got != want {
			t.Errorf("%v: %d, want %d", r, got, want)
		}
	}
}

func TestAPICallerNetworks(t *testing.T) {
	var nets []netip.Prefix
	for _, n := range DefaultAPINetworks {
		p, err := ParseNetwork(n)
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, p)
	}
	for ip, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "::1": true, "10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true,
		"192.168.1.1": true, "fd12::1": true, "::ffff:10.0.0.1": true, "fe80::1%eth0": false,
		"172.32.0.1": false, "8.8.8.8": false, "203.0.113.5": false, "2001:db8::1": false, "": false, "garbage": false,
	} {
		if got := inNetworks(ip, nets); got != want {
			t.Errorf("%q: %v, want %v", ip, got, want)
		}
	}
	if _, err := ParseNetwork("10.0.0.0/33"); err == nil {
		t.Error("accepted 10.0.0.0/33")
	}
	if p, err := ParseNetwork("203.0.113.7"); err != nil || p.Bits() != 32 {
		t.Errorf("single address: %v %v", p, err)
	}
}

func TestBearerTokenIsRequiredWhenSet(t *testing.T) {
	h, err := NewAPI(testService(t, nil, nil), APIConfig{BearerToken: "s3cret"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		hdr  []string
		want bool
	}{
		{nil, false},
		{[]string{"Bearer s3cret"}, true},
		{[]string{"bearer  s3cret "}, true},
		{[]string{"Bearer s3cre"}, false},
		{[]string{"Basic s3cret"}, false},
		{[]string{"Bearer s3cret", "Bearer s3cret"}, false},
	} {
		r, _ := http.NewRequest("GET", "http://x/auth", nil)
		r.RemoteAddr = "203.0.113.5:1234"
		for _, v := range tt.hdr {
			r.Header.Add("Authorization", v)
		}
		if ok, _ := h.admitsCaller(r); ok != tt.want {
			t.Errorf("%q: %v, want %v", tt.hdr, ok, tt.want)
		}
	}
}

func TestTheAPIAdmitsACallerOnlyWhenEveryAddressItCouldBeIsAllowed(t *testing.T) {
	env := Env{
		// As Caddy trusting the proxy 203.0.113.1: the client IP it
		// settled on, and the header it reads it from.
		ClientIP: func(r *http.Request) string {
			if v := r.Header.Get("Cf-Connecting-Ip"); v != "" && remoteHost(r) == "203.0.113.1" {
				return v
			}
			return remoteHost(r)
		},
		ClientIPHeaders: func(*http.Request) []string { return []string{"Cf-Connecting-Ip"} },
	}
	h, err := NewAPI(testService(t, nil, nil), APIConfig{AllowFrom: []string{"127.0.0.0/8", "::1", "10.0.0.0/8"}}, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		peer string
		hdr  []string
		want bool
	}{
		{"a caller on the loopback", "127.0.0.1:5000", nil, true},
		{"a caller from outside", "203.0.113.5:5000", nil, false},
		{"a peer from outside naming an allowed client", "203.0.113.5:5000", []string{"X-Forwarded-For", "127.0.0.1"}, false},
		{"an allowed proxy for an allowed client", "127.0.0.1:5000", []string{"X-Forwarded-For", "10.0.0.7"}, true},
		{"an allowed proxy appending an outside client", "127.0.0.1:5000", []string{"X-Forwarded-For", "10.0.0.7, 203.0.113.5"}, false},
		{"X-Real-IP naming an outside client", "127.0.0.1:5000", []string{"X-Real-Ip", "203.0.113.5"}, false},
		{"the server's client IP header, not read from this peer, naming an outside client", "127.0.0.1:5000", []string{"Cf-Connecting-Ip", "203.0.113.5"}, false},
		{"the server's client IP header naming an allowed client", "127.0.0.1:5000", []string{"Cf-Connecting-Ip", "10.0.0.7"}, true},
		{"a trusted proxy from outside naming an allowed client", "203.0.113.1:5000", []string{"Cf-Connecting-Ip", "10.0.0.7"}, false},
		{"Forwarded naming an outside client", "127.0.0.1:5000", []string{"Forwarded", `for="[2001:db8::1]:4711";proto=https`}, false},
		{"Forwarded naming an allowed client", "127.0.0.1:5000", []string{"Forwarded", `for="[::1]:4711", for=10.0.0.9`}, true},
		{"Forwarded hiding its client", "127.0.0.1:5000", []string{"Forwarded", "for=_hidden"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://x/auth", nil)
			r.RemoteAddr = tt.peer
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				r.Header.Add(tt.hdr[i], tt.hdr[i+1])
			}
			if ok, why := h.admitsCaller(r); ok != tt.want {
				t.Errorf("admitted %v (%s), want %v", ok, why, tt.want)
			}
		})
	}
}
