package openid

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// oneKeyStorage is a storage holding only the signing keys.
type oneKeyStorage struct{ keys []byte }

func (s *oneKeyStorage) Store(_ context.Context, _ string, v []byte) error { s.keys = v; return nil }
func (s *oneKeyStorage) Load(context.Context, string) ([]byte, error) {
	if s.keys == nil {
		return nil, fs.ErrNotExist
	}
	return s.keys, nil
}
func (s *oneKeyStorage) Delete(context.Context, string) error                 { return errors.New("no") }
func (s *oneKeyStorage) List(context.Context, string, bool) ([]string, error) { return nil, nil }
func (s *oneKeyStorage) Lock(context.Context, string) error                   { return nil }
func (s *oneKeyStorage) Unlock(context.Context, string) error                 { return nil }

func TestAnRSAKeyKeptWithoutItsAlgorithmIsReadAsRS256(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	now := time.Now()
	old, _ := json.Marshal([]map[string]any{{"kid": "old", "start": now.Add(-time.Hour), "pkcs8": der}})
	st := &oneKeyStorage{keys: old}
	kr := &keyring{st: st, path: "k", rotation: 720 * time.Hour, keep: time.Hour, now: func() time.Time { return now }}
	keys, err := kr.current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := signer(keys, jose.RS256, now); s.ID() != "old" {
		t.Errorf("RS256 signs with %s, want the kept key", s.ID())
	}
	if s := signer(keys, jose.ES256, now); s.SignatureAlgorithm() != jose.ES256 {
		t.Errorf("no ES256 key was made beside it")
	}
}

// failingStorage fails every call once failing is set.
type failingStorage struct {
	oneKeyStorage
	failing bool
}

func (s *failingStorage) Lock(ctx context.Context, k string) error {
	if s.failing {
		return errors.New("storage down")
	}
	return s.oneKeyStorage.Lock(ctx, k)
}

func TestAStorageOutageKeepsTheKeysSigning(t *testing.T) {
	now := time.Now()
	st := &failingStorage{}
	kr := &keyring{st: st, path: "k", rotation: 720 * time.Hour, keep: time.Hour, now: func() time.Time { return now }}
	keys, err := kr.current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.failing = true
	now = now.Add(2 * time.Hour) // past the hourly look at storage
	again, err := kr.current(context.Background())
	if err != nil || len(again) != len(keys) || signer(again, jose.RS256, now).ID() != signer(keys, jose.RS256, now).ID() {
		t.Errorf("with the storage down: %v, %d keys", err, len(again))
	}
}

func TestAKeyKeptWithoutAnIDIsRefused(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	bad, _ := json.Marshal([]map[string]any{{"kid": "", "alg": "RS256", "start": time.Now(), "pkcs8": der}})
	kr := &keyring{st: &oneKeyStorage{keys: bad}, path: "k", rotation: 720 * time.Hour, keep: time.Hour, now: time.Now}
	if _, err := kr.current(context.Background()); err == nil {
		t.Error("a kept key without an id was used")
	}
}
