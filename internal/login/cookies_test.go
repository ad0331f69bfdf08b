package login

import (
	"net/http"
	"reflect"
	"testing"
)

func TestStripGateCookiesLeavesOthersUntouched(t *testing.T) {
	h := testGate(t, testService(t, nil, nil), Config{}, Env{})
	hdr := http.Header{"Cookie": {"a=1;b=2", " xmpp_auth =S; xmpp_auth_login=L;c=3", "xmpp_auth_pre=P", "xmpp_authx=keep"}}
	h.stripGateCookies(hdr)
	if got, want := hdr["Cookie"], []string{"a=1;b=2", "c=3", "xmpp_authx=keep"}; !reflect.DeepEqual(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
	hdr = http.Header{"Cookie": {"xmpp_auth=S", "xmpp_auth_login=L"}}
	h.stripGateCookies(hdr)
	if _, ok := hdr["Cookie"]; ok {
		t.Errorf("left %q", hdr["Cookie"])
	}
}
