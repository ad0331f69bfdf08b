package main

// concurrentLogins is figure 3: 1 000 concurrent logins through real
// Prosody, scripted users approving at once, against the raw iq round-trip
// rate of a bare component in the same run.
func concurrentLogins() []row {
	return []row{
		notMeasured("3. 1 000 concurrent logins vs raw iq rate", "≥ 0.8 of raw", "not implemented yet in this command"),
	}
}
