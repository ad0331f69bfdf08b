package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func BenchmarkOpen(b *testing.B) {
	r := testRing(b, testKey(b, 1), testKey(b, 2))
	v := seal(b, r, testSession(aliceJID), site)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Open(v, site, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHMACSHA256 is the floor under BenchmarkOpen: the stdlib HMAC over
// exactly the bytes Open authenticates for the same cookie (payload, site
// length, site). "new" builds the HMAC each time, as a naive Open would;
// "reset" reuses one, as Open does through its pool.
func BenchmarkHMACSHA256(b *testing.B) {
	k := testKey(b, 1)
	raw := decode(b, seal(b, testRing(b, k), testSession(aliceJID), site))
	msg := append(raw[:len(raw)-macLen:len(raw)-macLen], 0, byte(len(site)))
	msg = append(msg, site...)
	var sum [sha256.Size]byte
	b.Run("new", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			h := hmac.New(sha256.New, k.Secret)
			h.Write(msg)
			h.Sum(sum[:0])
		}
	})
	b.Run("reset", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		h := hmac.New(sha256.New, k.Secret)
		for b.Loop() {
			h.Reset()
			h.Write(msg)
			h.Sum(sum[:0])
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	r := testRing(b, testKey(b, 1))
	s := testSession(aliceJID)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Seal(s, site); err != nil {
			b.Fatal(err)
		}
	}
}
