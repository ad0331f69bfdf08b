package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/xepauth/caddy-xepauth/internal/session"
)

// The load of the throughput figure: wrk with these parameters, rounds times against
// each site, a baseline run of the same requests next to every candidate
// run. Eleven rounds: on a shared machine one pair of runs moves by ±10 %,
// and the median of five still moved by ±5 % from one run of the command
// to the next, as much as the bar allows.
const (
	wrkThreads     = 2
	wrkConns       = 16
	wrkDuration    = 5 * time.Second
	wrkWarmup      = 2 * time.Second
	throughputRuns = 11
)

const (
	tpBar    = "≥ 0.95 req/s, p99 ≤ 1.1×"
	tpRefBar = "reference"
)

// tpSite is one site of the Caddy config under load.
type tpSite struct {
	figure string
	bar    string
	addr   string   // 127.0.0.1:port
	header string   // the header every request carries, "" for none
	routes []any    // the server's handlers, before reverse_proxy
	result []wrkRun // one per round
	paired []wrkRun // the baseline runs made next to this site's runs
}

// wrkRun is what one wrk run measured.
type wrkRun struct {
	rps   float64
	p99ms float64
}

// throughput is the throughput figure, the bar: requests per second and
// p99 latency of Caddy with the gate in front of reverse_proxy, every request with a valid cookie,
// against the same Caddy without the gate, with forward_auth and cached
// basic_auth as reference rows. Everything runs on 127.0.0.1 in one Caddy
// process, the backend and the forward_auth service in this one.
func throughput() []row {
	figs := [][2]string{
		{"2. throughput: xmpp_auth + reverse_proxy vs reverse_proxy (wrk)", tpBar},
		{"2. ref: forward_auth + reverse_proxy", tpRefBar},
		{"2. ref: basic_auth (cached) + reverse_proxy", tpRefBar},
	}
	all := func(f func(fig, bar string) row) []row {
		var rows []row
		for _, fb := range figs {
			rows = append(rows, f(fb[0], fb[1]))
		}
		return rows
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return all(func(fig, bar string) row {
			return notMeasured(fig, bar, "wrk is not installed (apt-get install wrk)")
		})
	}
	rows, err := runThroughput(wrk, figs)
	if err != nil {
		return all(func(fig, bar string) row { return failed(fig, bar, err) })
	}
	return rows
}

// runThroughput sets everything up, runs the load and tears it all down,
// whatever happens.
func runThroughput(wrk string, figs [][2]string) (rows []row, err error) {
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	dir, err := os.MkdirTemp("", "xepauth-bench-throughput-")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })

	fmt.Fprintln(os.Stderr, "==> throughput: go build -o <tmp>/caddy ./internal/cmd/caddy")
	caddyBin := filepath.Join(dir, "caddy")
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(gomod)), "go.mod") {
		return nil, fmt.Errorf("go env GOMOD: %v %q (run from the repository)", err, gomod)
	}
	build := exec.Command("go", "build", "-o", caddyBin, "./internal/cmd/caddy")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building caddy: %v: %s", err, strings.ReplaceAll(tail(string(out), 3), "\n", "; "))
	}

	// The backend and the forward_auth service, in this process.
	backend, err := serveLoopback(http.HandlerFunc(backendHandler))
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { backend.Close() })
	token := randomHex(16)
	authSrv, err := serveLoopback(authHandler(token))
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { authSrv.Close() })

	// The session cookie, sealed with the key the gate is configured with.
	secret := randomHex(32)
	cookie, err := mintCookie(secret)
	if err != nil {
		return nil, err
	}

	// basic_auth's bcrypt hash, from Caddy itself.
	password := randomHex(8)
	hashOut, err := exec.Command(caddyBin, "hash-password", "--plaintext", password).Output()
	if err != nil {
		return nil, fmt.Errorf("caddy hash-password: %v", err)
	}
	hash := strings.TrimSpace(string(hashOut))

	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	xmppPort, adminPort := ports[4], ports[5] // xmppPort stays closed
	basicCred := base64.StdEncoding.EncodeToString([]byte("alice:" + password))
	base := &tpSite{figure: "baseline", addr: ports[0]}
	sites := []*tpSite{
		{figure: figs[0][0], bar: figs[0][1], addr: ports[1], header: "Cookie: xmpp_auth=" + cookie,
			routes: []any{map[string]any{"handler": "xmpp_auth", "session_keys": []string{secret}}}},
		{figure: figs[1][0], bar: figs[1][1], addr: ports[2], header: "Cookie: auth=" + token,
			routes: []any{forwardAuthHandler(authSrv.Addr().String())}},
		{figure: figs[2][0], bar: figs[2][1], addr: ports[3], header: "Authorization: Basic " + basicCred,
			routes: []any{basicAuthHandler(hash)}},
	}

	config, err := caddyConfig(dir, backend.Addr().String(), xmppPort, adminPort, append([]*tpSite{base}, sites...))
	if err != nil {
		return nil, err
	}
	configPath := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return nil, err
	}

	logPath := filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { logFile.Close() })
	caddyLog := func() string {
		b, _ := os.ReadFile(logPath)
		return tail(string(b), 5)
	}
	cmd := exec.Command(caddyBin, "run", "--config", configPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	fmt.Fprintf(os.Stderr, "==> throughput: caddy run --config %s (admin and /debug/pprof on %s)\n", configPath, adminPort)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting caddy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	cleanups = append(cleanups, func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	if err := waitReady("http://"+base.addr+"/", exited); err != nil {
		return nil, fmt.Errorf("%v; caddy log: %s", err, caddyLog())
	}
	if err := checkSites(base, sites, exited); err != nil {
		return nil, fmt.Errorf("%v; caddy log: %s", err, caddyLog())
	}

	run := func(s *tpSite, d time.Duration) (wrkRun, error) {
		select {
		case <-exited:
			return wrkRun{}, fmt.Errorf("caddy exited during the load; log: %s", caddyLog())
		default:
		}
		r, err := runWrk(wrk, s, d)
		if err != nil {
			return r, fmt.Errorf("%s: %v", s.figure, err)
		}
		fmt.Fprintf(os.Stderr, "    %-70s %8.0f req/s  p99 %6.2f ms\n", s.figure, r.rps, r.p99ms)
		return r, nil
	}
	fmt.Fprintf(os.Stderr, "==> throughput: warm-up, wrk -t%d -c%d -d%v on each site\n", wrkThreads, wrkConns, wrkWarmup)
	for _, s := range append([]*tpSite{base}, sites...) {
		if _, err := run(s, wrkWarmup); err != nil {
			return nil, err
		}
	}
	for round := range throughputRuns {
		fmt.Fprintf(os.Stderr, "==> throughput: round %d of %d, wrk -t%d -c%d -d%v --latency\n", round+1, throughputRuns, wrkThreads, wrkConns, wrkDuration)
		for _, s := range sites {
			// The baseline gets the same requests, header and all: what
			// is measured is the gate, not a longer request. Baseline
			// first in odd rounds, second in even ones, so that a drift
			// of the machine does not always favour one side.
			same := *base
			same.header = s.header
			pair := []*tpSite{&same, s}
			if round%2 == 1 {
				pair[0], pair[1] = s, &same
			}
			for _, p := range pair {
				r, err := run(p, wrkDuration)
				if err != nil {
					return nil, err
				}
				if p == &same {
					s.paired = append(s.paired, r)
				} else {
					s.result = append(s.result, r)
				}
			}
		}
	}

	if path := os.Getenv("XEPAUTH_BENCH_CPUPROFILE"); path != "" {
		if err := profileGate(wrk, sites[0], adminPort, path); err != nil {
			fmt.Fprintf(os.Stderr, "    CPU profile: %v\n", err)
		}
	}

	for _, s := range sites {
		rps, p99 := medianRun(s.result)
		brps, bp99 := medianRun(s.paired)
		// The ratio of each run to the baseline run made next to it, then
		// the median of those: the load of the shared machine drifts by
		// ±25 % within a minute, and a pair sees the same drift.
		var rrs, prs []float64
		for i := range s.result {
			rrs = append(rrs, s.result[i].rps/s.paired[i].rps)
			prs = append(prs, s.result[i].p99ms/s.paired[i].p99ms)
		}
		rr, pr := median(rrs), median(prs)
		result := "reference"
		if s.bar == tpBar {
			result = passFail(rr >= 0.95 && pr <= 1.1)
		}
		rows = append(rows, row{s.figure,
			fmt.Sprintf("%.0f req/s, p99 %.2f ms", rps, p99),
			fmt.Sprintf("reverse_proxy %.0f req/s, p99 %.2f ms", brps, bp99),
			fmt.Sprintf("%.2f req/s, %.2f× p99", rr, pr),
			s.bar, result})
	}
	return rows, nil
}

// profileGate, after the measured runs, loads the gated site once more
// while taking a 5 s CPU profile of Caddy from its admin endpoint, and
// writes it to path (XEPAUTH_BENCH_CPUPROFILE; read it with go tool pprof).
func profileGate(wrk string, s *tpSite, adminAddr, path string) error {
	fmt.Fprintf(os.Stderr, "==> throughput: CPU profile of caddy under load on the gated site, to %s\n", path)
	done := make(chan error, 1)
	go func() {
		_, err := runWrk(wrk, s, 7*time.Second)
		done <- err
	}()
	time.Sleep(time.Second)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://" + adminAddr + "/debug/pprof/profile?seconds=5")
	if err == nil {
		defer resp.Body.Close()
		var b []byte
		if b, err = io.ReadAll(resp.Body); err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
	}
	return errors.Join(err, <-done)
}

func medianRun(runs []wrkRun) (rps, p99 float64) {
	var a, b []float64
	for _, r := range runs {
		a, b = append(a, r.rps), append(b, r.p99ms)
	}
	return median(a), median(b)
}

// backendHandler is the upstream of every site: "ok", or at /whoami the
// user headers the gates set, for the checks before the load.
func backendHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/whoami" {
		_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-User")+"|"+r.Header.Get("Remote-User"))
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// authHandler is the external auth service of the forward_auth row: 200
// with Remote-User when the auth cookie holds the token, 401 otherwise.
func authHandler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("auth"); err == nil && c.Value == token {
			w.Header().Set("Remote-User", "alice")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
}

// serveLoopback serves h on a free loopback port; Close stops it.
func serveLoopback(h http.Handler) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
	return ln, nil
}

// freePorts returns n loopback addresses that were free a moment ago.
func freePorts(n int) ([]string, error) {
	var addrs []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mintCookie seals a session for alice@localhost on site 127.0.0.1, valid
// for an hour, with the key the gate gets from secret.
func mintCookie(secret string) (string, error) {
	k, err := session.KeyFromSecret([]byte(secret))
	if err != nil {
		return "", err
	}
	ring, err := session.NewRing(k)
	if err != nil {
		return "", err
	}
	now := time.Now()
	return ring.Seal(session.Session{JID: "alice@localhost", Issued: now, Expires: now.Add(time.Hour)}, "127.0.0.1")
}

// forwardAuthHandler is what Caddyfile's
//
//	forward_auth <auth> { uri /auth; copy_headers Remote-User }
//
// adapts to.
func forwardAuthHandler(auth string) any {
	const remote = "{http.reverse_proxy.header.Remote-User}"
	return map[string]any{
		"handler":   "reverse_proxy",
		"upstreams": []any{map[string]any{"dial": auth}},
		"rewrite":   map[string]any{"method": "GET", "uri": "/auth"},
		"headers": map[string]any{"request": map[string]any{"set": map[string]any{
			"X-Forwarded-Method": []string{"{http.request.method}"},
			"X-Forwarded-Uri":    []string{"{http.request.uri}"},
		}}},
		"handle_response": []any{map[string]any{
			"match": map[string]any{"status_code": []int{2}},
			"routes": []any{
				map[string]any{"handle": []any{map[string]any{"handler": "vars"}}},
				map[string]any{"handle": []any{map[string]any{"handler": "headers",
					"request": map[string]any{"delete": []string{"Remote-User"}}}}},
				map[string]any{
					"match": []any{map[string]any{"not": []any{map[string]any{"vars": map[string]any{remote: []string{""}}}}}},
					"handle": []any{map[string]any{"handler": "headers",
						"request": map[string]any{"set": map[string]any{"Remote-User": []string{remote}}}}},
				},
			},
		}},
	}
}

// basicAuthHandler is Caddyfile's basic_auth with one account, which turns
// the hash cache on.
func basicAuthHandler(hash string) any {
	return map[string]any{
		"handler": "authentication",
		"providers": map[string]any{"http_basic": map[string]any{
			"accounts":   []any{map[string]any{"username": "alice", "password": hash}},
			"hash":       map[string]any{"algorithm": "bcrypt"},
			"hash_cache": map[string]any{},
		}},
	}
}

// caddyConfig is one config with a server per site, each ending in
// reverse_proxy to the backend, plus the xmpp_auth app pointed at a closed
// port: the gate checks cookies without the XMPP server.
func caddyConfig(dir, backend, xmppAddr, adminAddr string, sites []*tpSite) ([]byte, error) {
	servers := map[string]any{}
	for i, s := range sites {
		handle := append(append([]any{}, s.routes...), map[string]any{
			"handler":   "reverse_proxy",
			"upstreams": []any{map[string]any{"dial": backend}},
		})
		servers[fmt.Sprintf("site%d", i)] = map[string]any{
			"listen":          []string{s.addr},
			"routes":          []any{map[string]any{"handle": handle}},
			"automatic_https": map[string]any{"disable": true},
		}
	}
	return json.MarshalIndent(map[string]any{
		"admin":   map[string]any{"listen": adminAddr, "config": map[string]any{"persist": false}},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "WARN"}}},
		"apps": map[string]any{
			"http": map[string]any{"servers": servers},
			"xmpp_auth": map[string]any{
				"server": xmppAddr,
				"domain": "auth.localhost",
				"secret": randomHex(16),
			},
		},
	}, "", "  ")
}

// waitReady polls url until it answers, for at most 20 s.
func waitReady(url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("caddy exited at start")
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("caddy did not answer within 20 s")
}

// checkSites makes sure, before any load, that every site answers 200 "ok"
// with its header, that the gated ones refuse a request without it, and
// that the gate and forward_auth hand the user to the backend.
func checkSites(base *tpSite, sites []*tpSite, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(s *tpSite, path string, withHeader bool) (int, string, error) {
		req, err := http.NewRequest("GET", "http://"+s.addr+path, nil)
		if err != nil {
			return 0, "", err
		}
		if withHeader && s.header != "" {
			name, value, _ := strings.Cut(s.header, ": ")
			req.Header.Set(name, value)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	if code, body, err := get(base, "/", false); err != nil || code != 200 || body != "ok" {
		return fmt.Errorf("baseline site: %d %q %v", code, body, err)
	}
	wantUser := []string{"alice@localhost|", "|alice", ""}
	for i, s := range sites {
		if code, _, err := get(s, "/", false); err != nil || code != http.StatusUnauthorized {
			return fmt.Errorf("%s: without credentials: %d %v, want 401", s.figure, code, err)
		}
		if code, body, err := get(s, "/", true); err != nil || code != 200 || body != "ok" {
			return fmt.Errorf("%s: with credentials: %d %q %v, want 200 ok", s.figure, code, body, err)
		}
		if wantUser[i] != "" {
			if code, body, err := get(s, "/whoami", true); err != nil || code != 200 || body != wantUser[i] {
				return fmt.Errorf("%s: the backend saw user headers %q (%d %v), want %q", s.figure, body, code, err, wantUser[i])
			}
		}
	}
	select {
	case <-exited:
		return errors.New("caddy exited")
	default:
	}
	return nil
}

var (
	wrkRPS    = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	wrkP99    = regexp.MustCompile(`(?m)^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkNon2xx = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkErrors = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk loads site s for d and parses wrk's --latency output. A run with
// any non-2xx answer or socket error is an error, not a figure.
func runWrk(wrk string, s *tpSite, d time.Duration) (wrkRun, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+15*time.Second)
	defer cancel()
	args := []string{
		"-t" + strconv.Itoa(wrkThreads), "-c" + strconv.Itoa(wrkConns),
		"-d" + strconv.Itoa(int(d/time.Second)) + "s", "--latency",
	}
	if s.header != "" {
		args = append(args, "-H", s.header)
	}
	args = append(args, "http://"+s.addr+"/")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, wrk, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkRun{}, fmt.Errorf("wrk: %v: %s", err, tail(out.String(), 3))
	}
	text := out.String()
	if m := wrkNon2xx.FindStringSubmatch(text); m != nil {
		return wrkRun{}, fmt.Errorf("wrk: %s non-2xx answers", m[1])
	}
	if m := wrkErrors.FindStringSubmatch(text); m != nil {
		return wrkRun{}, fmt.Errorf("wrk: %s", strings.TrimSpace(m[0]))
	}
	rm, pm := wrkRPS.FindStringSubmatch(text), wrkP99.FindStringSubmatch(text)
	if rm == nil || pm == nil {
		return wrkRun{}, fmt.Errorf("wrk: no Requests/sec or 99%% line in: %s", tail(text, 12))
	}
	rps, _ := strconv.ParseFloat(rm[1], 64)
	p99, _ := strconv.ParseFloat(pm[1], 64)
	switch pm[2] {
	case "us":
		p99 /= 1000
	case "s":
		p99 *= 1000
	case "m":
		p99 *= 60000
	}
	if rps <= 0 {
		return wrkRun{}, fmt.Errorf("wrk: %v req/s", rps)
	}
	return wrkRun{rps, p99}, nil
}
