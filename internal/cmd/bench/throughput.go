package main

// throughput is figure 2: requests per second and p99 latency of Caddy with
// the gate in front of reverse_proxy, every request with a valid cookie,
// against the same Caddy without the gate, with forward_auth and cached
// basic_auth as reference rows.
func throughput() []row {
	return []row{
		notMeasured("2. throughput, gate vs none (wrk)", "≥ 0.95 req/s, p99 ≤ 1.1×", "not implemented yet in this command"),
		notMeasured("2. ref: forward_auth", "reference", "not implemented yet in this command"),
		notMeasured("2. ref: basic_auth (cached)", "reference", "not implemented yet in this command"),
	}
}
