package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// figure3Line is what TestConcurrentLogins prints.
var figure3Line = regexp.MustCompile(`FIGURE3 logins=(\d+) users=(\d+) logins_per_s=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) max_ms=[\d.]+ raw_per_s=([\d.]+)`)

// concurrentLogins is the concurrent-logins figure, for information: 1 000
// concurrent logins through real Prosody, scripted users approving at once, against the raw
// iq round-trip rate of a bare component in the same run. On two shared
// cores the load generator, Caddy, Prosody and the users compete for the
// same CPU, so the ratio says more about the machine than about the gate.
// TestConcurrentLogins runs three times; the run with the median ratio is
// kept.
func concurrentLogins() []row {
	const n, runs = 1000, 3
	fig := fmt.Sprintf("3. %d concurrent logins vs raw iq rate", n)
	const bar = "information"
	type result struct {
		users               string
		rate, p50, p99, raw float64
	}
	var res []result
	for range runs {
		out, err := goTest([]string{"XEPAUTH_LOGINS=" + strconv.Itoa(n), "XEPAUTH_LOGINS_BAR=0"},
			"-tags", "bench", "-count=1", "-run", "^TestConcurrentLogins$", "-v", "./caddymodule")
		m := figure3Line.FindStringSubmatch(out)
		if err != nil || m == nil {
			if err == nil {
				err = fmt.Errorf("no FIGURE3 line in the output")
			}
			return []row{failed(fig, bar, err)}
		}
		f := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
		res = append(res, result{m[2], f(3), f(4), f(5), f(6)})
	}
	slices.SortFunc(res, func(a, b result) int {
		ra, rb := a.rate/a.raw, b.rate/b.raw
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	r := res[len(res)/2]
	ratio := r.rate / r.raw
	return []row{{fig,
		fmt.Sprintf("%.0f logins/s, p50 %.0f ms, p99 %.0f ms (%s users, median of %d runs)", r.rate, r.p50, r.p99, r.users, runs),
		fmt.Sprintf("bare mellium component %.0f iq/s at c=%d", r.raw, n),
		fmt.Sprintf("%.2f", ratio), bar, "-"}}
}
