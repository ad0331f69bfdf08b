package login

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

func TestASessionKeyMustBeRealKeyMaterial(t *testing.T) {
	for _, key := range []string{
		"+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ=",                     // openssl rand -base64 32
		"+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ",                      // unpadded
		"-xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ",                      // the URL alphabet
		"fb11388a89399764b4287a3b42f14b5b654c5e79e728e43d5e6322971f01591b", // hex
		"7RUrHRzFNnFysYW7Da4ju2GKlM4makQCwOkoEfaoWnUL3JtLw9h9rkwqP4ZqRYpW", // 48 bytes
	} {
		if err := checkKeyMaterial(key); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	for key, why := range map[string]string{
		"this is my passphrase for the gate!!":                             "at least 32 random bytes",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":                     "is not random",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=":                     "is not random",
		"0000000000000000000000000000000000000000000000000000000000000000": "is not random",
		"+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9Xm":                              "at least 32 random bytes", // 26 bytes
		"{env.XEPAUTH_KEY}":                                                "at least 32 random bytes", // a placeholder left unresolved
	} {
		err := checkKeyMaterial(key)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("%q: %v, want an error saying it %s and how to make one", key, err, why)
		}
	}
}

func TestASessionKeyIsRefusedWhenItIsWordsOrTooFewDistinctBytes(t *testing.T) {
	// Passphrases of small letters decode as base64 into 32 bytes and more.
	for _, words := range []string{
		"correcthorsebatterystaplecorrecthorsebatterystaple",
		"thequickbrownfoxjumpsoverthelazydogthequickbrownfox",
	} {
		if err := checkKeyMaterial(words); err == nil || !strings.Contains(err.Error(), "looks like words") {
			t.Errorf("%q: %v", words, err)
		}
	}
	// 16 distinct values in 32 bytes pass; 15 do not.
	withDistinct := func(n int) string {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(i%n) * 13
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	if err := checkKeyMaterial(withDistinct(16)); err != nil {
		t.Errorf("32 bytes of 16 distinct values: %v", err)
	}
	if err := checkKeyMaterial(withDistinct(15)); err == nil || !strings.Contains(err.Error(), "is not random") {
		t.Errorf("32 bytes of 15 distinct values: %v", err)
	}
	// A key read from a file or an environment variable often ends in a
	// newline.
	if err := checkKeyMaterial("+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ=\n"); err != nil {
		t.Errorf("a key with its newline: %v", err)
	}
}

// LoadRing is where configured keys come in: a passphrase is refused
// there, not only by the helper that tells one.
func TestAConfiguredPassphraseIsRefusedAsASessionKey(t *testing.T) {
	good := "+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ="
	for _, configured := range [][]string{
		{"correcthorsebatterystaplecorrecthorsebatterystaple"},
		{"this is my passphrase for the gate!!"},
		{good, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, // an old key that verifies only
	} {
		st := newMemStorage()
		r, err := LoadRing(t.Context(), st, configured)
		if err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("%q: ring %v, error %v; want refused, saying how to make a key", configured, r, err)
		}
		if n := st.writes(); n != 0 {
			t.Errorf("%q: refused keys led to %d storage writes, want none", configured, n)
		}
	}
	if _, err := LoadRing(t.Context(), newMemStorage(), []string{good}); err != nil {
		t.Errorf("a key made with openssl rand: %v", err)
	}
}

// failingStorage is a storage whose reads fail, as a network storage does
// when it cannot be reached.
type failingStorage struct {
	*memStorage
	err error
}

func (s *failingStorage) Load(context.Context, string) ([]byte, error) { return nil, s.err }

// The generated key signs every site's sessions, on every instance that
// shares the storage: one that cannot be read must stop the start, not be
// replaced, which would log everyone out everywhere.
func TestAStoredSessionKeyThatCannotBeReadIsNeverReplaced(t *testing.T) {
	for name, value := range map[string]string{
		"not base64": "this is not base64!\n",
		"too short":  base64.StdEncoding.EncodeToString([]byte("sixteen bytes...")) + "\n",
	} {
		st := newMemStorage()
		st.m[storageKey] = []byte(value)
		if _, err := LoadRing(t.Context(), st, nil); err == nil || !strings.Contains(err.Error(), storageKey) {
			t.Errorf("a stored key %s: %v, want an error naming %s", name, err, storageKey)
		}
		if n, got := st.writes(), string(st.m[storageKey]); n != 0 || got != value {
			t.Errorf("a stored key %s: %d storage writes, and it holds %q; want none, and %q", name, n, got, value)
		}
	}
	unreachable := errors.New("storage unreachable")
	st := &failingStorage{memStorage: newMemStorage(), err: unreachable}
	if _, err := LoadRing(t.Context(), st, nil); !errors.Is(err, unreachable) {
		t.Errorf("storage failing to read: %v, want %v", err, unreachable)
	}
	if n := st.writes(); n != 0 {
		t.Errorf("storage failing to read got %d writes, want none", n)
	}
}

// The other side: with nothing stored, a key is made once and read back.
func TestASessionKeyIsGeneratedOnceWhenNoneIsStored(t *testing.T) {
	st := newMemStorage()
	first, err := LoadRing(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadRing(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.writes(); n != 1 {
		t.Errorf("two loads with nothing stored made %d writes, want 1", n)
	}
	now := time.Unix(2e9, 0)
	v, err := first.Seal(session.Session{JID: "alice@example.org", Issued: now, Expires: now.Add(time.Hour)}, "wiki.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Open(v, "wiki.example.org", now); err != nil {
		t.Errorf("a session made with the first key loaded does not open with the second: %v", err)
	}
}
