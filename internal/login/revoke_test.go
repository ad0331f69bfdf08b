package login

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

func TestALogoutCarryingOneCookie2000TimesWritesStorageOnce(t *testing.T) {
	h, _ := attackGate(t, "")
	st := newMemStorage()
	h.svc.revoked.useStorage(st)
	now := attackNow
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
	if n := st.writes(); n != 1 {
		t.Errorf("a logout with 2000 copies of one cookie made %d storage writes, want 1", n)
	}
	for _, v := range st.m {
		if lines := strings.Count(string(v), "\n"); lines != 1 {
			t.Errorf("the logout of one session stored %d lines, want 1", lines)
		}
	}
	if took > time.Second {
		t.Errorf("the logout took %v", took)
	}
	logout()
	if n := st.writes(); n != 1 {
		t.Errorf("a second logout of a revoked session wrote to storage again (%d writes in all)", n)
	}
}

func TestOneLogoutOfSeveralSessionsIsOneEntryThatReadsBackWhole(t *testing.T) {
	st := newMemStorage()
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

// logoutOf logs the cookie value out through g at the Service's time and
// returns the time its session stays revoked until.
func logoutOf(t *testing.T, g *Gate, value string, id [16]byte) time.Time {
	t.Helper()
	r := httptest.NewRequest("GET", "http://wiki.example.org/.xmpp-auth/logout", nil)
	r.Header.Set("Cookie", "xmpp_auth="+value)
	if err := g.logout(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	exp, ok := (*g.svc.revoked.ids.Load())[id]
	if !ok {
		t.Fatal("the session is not on the revocation list")
	}
	return time.Unix(exp, 0)
}

func TestARevocationLastsAsLongAsTheLongestLifetimeSharingTheStorage(t *testing.T) {
	now := time.Unix(2e9, 0)
	svc := testService(t, nil, func() time.Time { return now })
	// Another site of the server, or another instance sharing the
	// storage, keeps sessions for three days.
	svc.Commit(DefaultLimits, newMemStorage(), 72*time.Hour)
	g := testGate(t, svc, Config{SessionLifetime: time.Hour}, Env{})
	s := session.Session{ID: [16]byte{1}, JID: "alice@example.org", Authenticated: now, Issued: now, Expires: now.Add(time.Hour)}
	v, err := g.ring.Seal(s, "wiki.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if until := logoutOf(t, g, v, s.ID); until.Before(now.Add(72 * time.Hour)) {
		t.Errorf("revoked until %v, want at least %v (the longest lifetime sharing the storage)", until, now.Add(72*time.Hour))
	}
}

func TestARevocationLastsUntilTheCookieItselfExpires(t *testing.T) {
	now := time.Unix(2e9, 0)
	svc := testService(t, nil, func() time.Time { return now })
	svc.Commit(DefaultLimits, newMemStorage(), time.Hour)
	g := testGate(t, svc, Config{SessionLifetime: time.Hour}, Env{})
	// Issued when the lifetime was a week; it is one hour now.
	s := session.Session{ID: [16]byte{2}, JID: "alice@example.org", Authenticated: now.Add(-time.Minute), Issued: now.Add(-time.Minute), Expires: now.Add(7 * 24 * time.Hour)}
	v, err := g.ring.Seal(s, "wiki.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if until := logoutOf(t, g, v, s.ID); until.Before(s.Expires) {
		t.Errorf("revoked until %v, before the cookie's own expiry %v", until, s.Expires)
	}
}

// slowStorage holds List until release is closed, as a slow storage
// keeps a reload of the revocation list waiting, and its writes are not
// seen by a List under way.
type slowStorage struct {
	*memStorage
	listing chan struct{}
	release chan struct{}
}

func (s *slowStorage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	close(s.listing)
	<-s.release
	return s.memStorage.List(ctx, prefix, recursive)
}

func (s *slowStorage) Store(context.Context, string, []byte) error { return nil }

// The reload replaces the list with what it read, which was read before
// the logout: the logout's own entry must be kept beside it. Storage holds
// another entry, so that the reload has a list to replace this one with.
func TestARevocationMadeWhileTheListReloadsIsKept(t *testing.T) {
	now := time.Now()
	st := &slowStorage{memStorage: newMemStorage(), listing: make(chan struct{}), release: make(chan struct{})}
	earlier := [16]byte{1}
	if err := st.memStorage.Store(t.Context(), revokedPrefix+"/0e000000000000000000000000000000", fmt.Appendf(nil, "%x %d\n", earlier, now.Add(time.Hour).Unix())); err != nil {
		t.Fatal(err)
	}
	rv := newRevocations()
	rv.useStorage(st)
	loaded := make(chan struct{})
	go func() {
		rv.load(context.Background(), now, zap.NewNop())
		close(loaded)
	}()
	<-st.listing
	// Logged out while the reload reads storage; its entry is not in
	// what the reload read.
	id := [16]byte{3}
	if err := rv.revoke(context.Background(), revocation{id: id, until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	<-loaded
	if !rv.revoked(earlier, now) {
		t.Error("the revocation kept in storage was not read")
	}
	if !rv.revoked(id, now) {
		t.Error("a revocation made while the list was reloaded was lost")
	}
}

// Entries are named at random, so storage lists two logouts of one
// session in either order: the session stays revoked until the later of
// their times whichever is read first.
func TestTwoLogoutsOfOneSessionKeepBothWhole(t *testing.T) {
	now := time.Unix(2e9, 0)
	id := [16]byte{7}
	// Two instances with different session lifetimes logged it out, each
	// along with another session.
	var entries [][]byte
	for i, until := range []time.Time{now.Add(2 * time.Hour), now.Add(time.Hour)} {
		st := newMemStorage()
		rv := newRevocations()
		rv.useStorage(st)
		if err := rv.revoke(t.Context(), revocation{id, until}, revocation{[16]byte{byte(i + 10)}, until}); err != nil {
			t.Fatal(err)
		}
		for _, v := range st.m {
			entries = append(entries, v)
		}
	}
	if len(entries) != 2 {
		t.Fatalf("two logouts wrote %d entries, want 2", len(entries))
	}
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		st := newMemStorage()
		for i, e := range order {
			if err := st.Store(t.Context(), fmt.Sprintf("%s/%032x", revokedPrefix, i), entries[e]); err != nil {
				t.Fatal(err)
			}
		}
		rv := newRevocations()
		rv.useStorage(st)
		rv.load(t.Context(), now, zap.NewNop())
		if !rv.revoked(id, now.Add(90*time.Minute)) {
			t.Errorf("entries read in the order %v: the session is revoked only until the earlier of its two entries", order)
		}
		if !rv.revoked([16]byte{10}, now) || !rv.revoked([16]byte{11}, now) {
			t.Errorf("entries read in the order %v: a second logout of one session lost the other sessions of the first", order)
		}
	}
}

// A reload deletes an entry only when every session in it has expired:
// not what is no entry (a storage's temporary file that an entry is being
// written into), nor an entry that reads as nothing yet.
func TestAReloadDeletesOnlyEntriesWhoseSessionsHaveAllExpired(t *testing.T) {
	now := time.Now()
	st := newMemStorage()
	line := func(id byte, until time.Time) string { return fmt.Sprintf("%x %d\n", [16]byte{id}, until.Unix()) }
	stored := map[string]string{
		"01000000000000000000000000000000":     line(1, now.Add(-time.Minute)),                               // expired
		"02000000000000000000000000000000":     line(2, now.Add(-time.Minute)) + line(3, now.Add(time.Hour)), // one still live
		"03000000000000000000000000000000":     "",                                                           // being written
		"3142415422":                           "",                                                           // a temporary file
		"04000000000000000000000000000000.tmp": line(4, now.Add(-time.Minute)),
	}
	for name, v := range stored {
		if err := st.Store(t.Context(), revokedPrefix+"/"+name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	rv := newRevocations()
	rv.useStorage(st)
	rv.load(t.Context(), now, zap.NewNop())
	for name := range stored {
		_, err := st.Load(t.Context(), revokedPrefix+"/"+name)
		if kept, want := err == nil, name != "01000000000000000000000000000000"; kept != want {
			t.Errorf("%s: kept %v, want %v", name, kept, want)
		}
	}
	if !rv.revoked([16]byte{3}, now) {
		t.Error("the live session of an entry was not read")
	}
}
