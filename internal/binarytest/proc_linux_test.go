package binarytest

import "syscall"

// sysProcAttr has the kernel kill a `caddy run` child when the test binary
// dies (say, at go test's -timeout, when no cleanup runs), so no Caddy is
// left holding ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
