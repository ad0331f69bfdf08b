// Command bench measures what a user of the gate feels, each figure beside
// a baseline measured in the same run, and prints one table: figure,
// value, baseline, ratio, bar, pass or fail (docs/performance.md).
//
//	go run ./internal/cmd/bench            # every figure
//	go run ./internal/cmd/bench -only 2    # one figure
//
// Run it from the repository. Each figure runs as go test in a child
// process, with the bench build tag that keeps the figures out of go test
// ./... (Prosody must be installed, as for the tests); a figure this
// command cannot measure prints "not measured" with the reason, never a
// number. Figures without a bar are information. It exits 1 when a
// measured bar fails.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table.
type row struct {
	figure, value, baseline, ratio, bar, result string
}

func main() {
	count := flag.Int("count", 5, "runs of each Go benchmark; the median is kept")
	pending := flag.Int("pending", 10000, "pending logins for the pending-login memory figure")
	samples := flag.Int("samples", 200, "logins measured for the answer-to-page figure")
	codeFlows := flag.Int("codeflows", 100, "logins of each kind for the code-flow figure")
	only := flag.Int("only", 0, "measure this figure alone (1 to 6), to rerun or profile it")
	flag.Parse()

	figures := []func() []row{
		func() []row { return cookieCheck(*count) },
		throughput,
		concurrentLogins,
		func() []row { return []row{pendingMemory(*pending)} },
		func() []row { return []row{outcomeLatency(*samples)} },
		func() []row { return []row{codeFlow(*codeFlows)} },
	}
	if *only < 0 || *only > len(figures) {
		fmt.Fprintf(os.Stderr, "-only %d: there are figures 1 to %d\n", *only, len(figures))
		os.Exit(2)
	}
	var rows []row
	for i, measure := range figures {
		if *only == 0 || *only == i+1 {
			rows = append(rows, measure()...)
		}
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tbaseline\tratio\tbar\tresult")
	failed := false
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.figure, r.value, r.baseline, r.ratio, r.bar, r.result)
		failed = failed || r.result == "FAIL"
	}
	tw.Flush()
	if failed {
		os.Exit(1)
	}
}

func notMeasured(figure, bar, why string) row {
	return row{figure, "not measured", "-", "-", bar, "not measured: " + why}
}

func failed(figure, bar string, err error) row {
	return row{figure, "error", "-", "-", bar, "FAIL: " + strings.SplitN(err.Error(), "\n", 2)[0]}
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

// goTest runs go test with args (and extra environment), echoing what it
// runs, and returns its output.
func goTest(env []string, args ...string) (string, error) {
	fmt.Fprintf(os.Stderr, "==> %s go test %s\n", strings.Join(env, " "), strings.Join(args, " "))
	cmd := exec.Command("go", append([]string{"test"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	fmt.Fprintf(os.Stderr, "    (%v)\n", time.Since(start).Round(time.Second))
	if err != nil {
		return out.String(), fmt.Errorf("go test %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 20))
	}
	return out.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// benchLine matches a Go benchmark result with -benchmem.
var benchLine = regexp.MustCompile(`(?m)^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:.*?\s([\d.]+) allocs/op)?`)

// medians returns, per benchmark name, the median ns/op and allocs/op.
func medians(out string) map[string][2]float64 {
	ns, allocs := map[string][]float64{}, map[string][]float64{}
	for _, m := range benchLine.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		ns[m[1]] = append(ns[m[1]], v)
		if m[3] != "" {
			a, _ := strconv.ParseFloat(m[3], 64)
			allocs[m[1]] = append(allocs[m[1]], a)
		}
	}
	res := map[string][2]float64{}
	for k, v := range ns {
		res[k] = [2]float64{median(v), median(allocs[k])}
	}
	return res
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// cookieCheck is the cookie-check figure, for information:
// BenchmarkSessionCheck against the bare HMAC-SHA256 of the same bytes, each
// run count times, alternating, so that both see the same machine. What a
// user feels is the throughput figure.
func cookieCheck(count int) []row {
	const fig, bar = "1. cookie check (parse, HMAC, expiry, revocation)", "information"
	var outs strings.Builder
	for range count {
		for _, args := range [][]string{
			{"-run", "^$", "-bench", "^BenchmarkSessionCheck$", "-benchmem", "-count", "1", "./internal/login"},
			{"-run", "^$", "-bench", "^BenchmarkHMACSHA256$/^reset$", "-benchmem", "-count", "1", "./internal/session"},
		} {
			out, err := goTest(nil, args...)
			if err != nil {
				return []row{failed(fig, bar, err)}
			}
			outs.WriteString(out)
		}
	}
	m := medians(outs.String())
	ours, ok1 := m["BenchmarkSessionCheck"]
	hmac, ok2 := m["BenchmarkHMACSHA256/reset"]
	if !ok1 || !ok2 {
		return []row{failed(fig, bar, fmt.Errorf("no benchmark result in the output"))}
	}
	return []row{
		{fig, fmt.Sprintf("%.0f ns/op, %.0f allocs/op", ours[0], ours[1]), fmt.Sprintf("HMAC-SHA256 %.0f ns/op", hmac[0]),
			fmt.Sprintf("%.2f×", ours[0]/hmac[0]), bar, "-"},
	}
}

// pendingMemory is the pending-login memory figure, the bar:
// TestPendingLoginMemory with n logins and the 4 KB bar.
func pendingMemory(n int) row {
	fig := fmt.Sprintf("4. heap per pending login (%d)", n)
	const bar = "≤ 4096 B heap each"
	out, err := goTest([]string{"XEPAUTH_PENDING_LOGINS=" + strconv.Itoa(n), "XEPAUTH_PENDING_LIMIT=4096"},
		"-tags", "bench", "-count=1", "-run", "^TestPendingLoginMemory$", "-v", "./internal/login")
	m := regexp.MustCompile(`pending logins: (\d+), heap (-?\d+) bytes each, goroutine stacks (-?\d+) bytes each`).FindStringSubmatch(out)
	if m == nil {
		if err == nil {
			err = fmt.Errorf("no result in the output")
		}
		return failed(fig, bar, err)
	}
	heap, _ := strconv.Atoi(m[2])
	return row{fig, fmt.Sprintf("%d B (+ %s B goroutine stack)", heap, m[3]), "4096 B (the bar)",
		fmt.Sprintf("%.2f", float64(heap)/4096), bar, passFail(heap <= 4096)}
}

// outcomeLatency is the answer-to-page figure, the bar:
// TestOutcomeLatencyP99 over n logins.
func outcomeLatency(n int) row {
	const fig, bar = "5. outcome latency p99 (answer sent → page knows)", "p99 ≤ 50 ms"
	out, err := goTest([]string{"XEPAUTH_OUTCOME_SAMPLES=" + strconv.Itoa(n)},
		"-tags", "bench", "-count=1", "-run", "^TestOutcomeLatencyP99$", "-v", "./caddymodule")
	m := regexp.MustCompile(`outcome latency: samples (\d+) p50_us (\d+) p99_us (\d+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		if err == nil {
			err = fmt.Errorf("no result in the output")
		}
		return failed(fig, bar, err)
	}
	p50, _ := strconv.Atoi(m[2])
	p99, _ := strconv.Atoi(m[3])
	return row{fig, fmt.Sprintf("p99 %.1f ms (p50 %.1f ms, n=%s)", float64(p99)/1000, float64(p50)/1000, m[1]), "50 ms (the bar)",
		fmt.Sprintf("%.2f", float64(p99)/50000), bar, passFail(p99 <= 50000)}
}

// codeFlow is the code-flow figure, for information: TestCodeFlowOverhead,
// n logins through the OpenID provider (from "log in" to the application
// holding a verified ID token) beside n logins at the gate (from the form
// to the page behind it), in the same run; the difference of the medians
// is what the provider adds to a login beyond the XMPP approval.
func codeFlow(n int) row {
	const fig, bar = "6. OpenID code flow (log in → ID token verified)", "information"
	out, err := goTest([]string{"XEPAUTH_CODEFLOW_SAMPLES=" + strconv.Itoa(n)},
		"-tags", "bench", "-count=1", "-run", "^TestCodeFlowOverhead$", "-v", "./caddymodule")
	m := regexp.MustCompile(`code flow: samples (\d+) gate_p50_us (\d+) gate_p99_us (\d+) flow_p50_us (\d+) flow_p99_us (\d+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		if err == nil {
			err = fmt.Errorf("no result in the output")
		}
		return failed(fig, bar, err)
	}
	ms := func(s string) float64 { v, _ := strconv.Atoi(s); return float64(v) / 1000 }
	return row{fig, fmt.Sprintf("p50 %.1f ms, p99 %.1f ms (n=%s)", ms(m[4]), ms(m[5]), m[1]),
		fmt.Sprintf("gate login p50 %.1f ms, p99 %.1f ms", ms(m[2]), ms(m[3])),
		fmt.Sprintf("+%.1f ms p50 (%.2f×)", ms(m[4])-ms(m[2]), ms(m[4])/ms(m[2])), bar, "-"}
}
