package caddymodule

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// countingStorage counts the writes to a file storage.
type countingStorage struct {
	*certmagic.FileStorage
	stores atomic.Int64
}

func (c *countingStorage) Store(ctx context.Context, key string, value []byte) error {
	c.stores.Add(1)
	return c.FileStorage.Store(ctx, key, value)
}

func TestALogoutCarryingOneCookie2000TimesWritesStorageOnce(t *testing.T) {
	h, _ := attackHandler(t)
	st := &countingStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}}
	h.gate.revoked.useStorage(st)
	now := time.Now()
	cookie, err := h.ring.Seal(session.Session{JID: "alice@example.org", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)}, "wiki.example.org")
	if err != nil {
		t.Fatal(err)
	}
	logout := func() time.Duration {
		r := httptest.NewRequest("GET", "http://wiki.example.org/.xmpp-auth/logout", nil)
		r.Header.Set("Cookie", strings.Repeat("xmpp_auth="+cookie+"; ", 2000))
		start := time.Now()
		if err := h.logout(httptest.NewRecorder(), r); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	took := logout()
	if n := st.stores.Load(); n != 1 {
		t.Errorf("a logout with 2000 copies of one cookie made %d storage writes, want 1", n)
	}
	if took > time.Second {
		t.Errorf("the logout took %v", took)
	}
	logout()
	if n := st.stores.Load(); n != 1 {
		t.Errorf("a second logout of a revoked session wrote to storage again (%d writes in all)", n)
	}
}

func TestOneLogoutOfSeveralSessionsIsOneEntryThatReadsBackWhole(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	now := time.Now()
	rv := newRevocations()
	rv.useStorage(st)
	a, b := [16]byte{1}, [16]byte{2}
	if err := rv.revoke(t.Context(), revocation{a, now.Add(time.Hour)}, revocation{b, now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// An entry as written before logouts were batched: the time alone,
	// named after its id.
	legacy := [16]byte{3}
	if err := st.Store(t.Context(), revokedPrefix+"/03000000000000000000000000000000", []byte("9999999999")); err != nil {
		t.Fatal(err)
	}
	keys, _ := st.List(t.Context(), revokedPrefix, false)
	if len(keys) != 2 {
		t.Errorf("storage holds %d entries, want one for the logout and the older one: %v", len(keys), keys)
	}
	again := newRevocations()
	again.useStorage(st)
	again.load(t.Context(), now, zap.NewNop())
	for _, id := range [][16]byte{a, b, legacy} {
		if !again.revoked(id, now) {
			t.Errorf("session %x is not revoked once the list is read from storage", id)
		}
	}
	if again.revoked(a, now.Add(90*time.Minute)) || !again.revoked(b, now.Add(90*time.Minute)) {
		t.Error("each session is not revoked until its own time")
	}
	// Once every session of an entry has expired, the entry goes.
	again.load(t.Context(), now.Add(3*time.Hour), zap.NewNop())
	if keys, _ := st.List(t.Context(), revokedPrefix, false); len(keys) != 1 {
		t.Errorf("after every session of the logout expired, storage holds %v", keys)
	}
}
