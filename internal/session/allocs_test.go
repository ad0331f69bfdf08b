//go:build !race

package session

import "testing"

// The allocation guard is built only without the race detector, which
// makes sync.Pool drop items and so allocations unrepresentative; the test
// command runs it in a step of its own, without -race.

func TestOpenAllocs(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	v := seal(t, r, testSession(aliceJID), site)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.Open(v, site, t0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("Open makes %v allocations per call, want at most 2", allocs)
	}
	t.Logf("Open: %v allocs/op", allocs)
}
