package caddymodule

import (
	"net/http"
	"reflect"
	"testing"
)

func TestDeleteHeaderRemovesEverySpellingABackendCouldRead(t *testing.T) {
	h := http.Header{
		"X-Forwarded-User": {"a"}, "X_Forwarded_User": {"b"}, "x-forwarded_user": {"c"},
		"X.Forwarded.User": {"d"}, "X Forwarded User": {"e"}, "x.forwarded_USER": {"f"},
		"X-Forwarded-Users": {"keep"}, "X-Forwarded-Use": {"keep"}, "Cookie": {"keep"},
	}
	deleteHeader(h, "X-Forwarded-User")
	want := http.Header{"X-Forwarded-Users": {"keep"}, "X-Forwarded-Use": {"keep"}, "Cookie": {"keep"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("left %v, want %v", h, want)
	}
}

func TestAConnectionTokenNamingTheUserHeaderCannotMakeTheProxyDropIt(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string // nil: no Connection header left
	}{
		{"alone", []string{"X-Forwarded-User"}, nil},
		{"another spelling", []string{"x_forwarded.user"}, nil},
		{"among others", []string{"keep-alive, X-Forwarded-User ,Upgrade"}, []string{"keep-alive, Upgrade"}},
		{"in a second line", []string{"keep-alive", "x-forwarded-user"}, []string{"keep-alive"}},
		{"untouched", []string{"Upgrade"}, []string{"Upgrade"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Connection": append([]string(nil), tt.in...)}
			deleteHeader(h, "X-Forwarded-User")
			if got := h["Connection"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Connection %q became %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
