//go:build !linux

package xmpptest

import (
	"syscall"
	"time"
)

// sysProcAttr gives the server its own process group, so that Pause,
// Resume and Kill reach whatever it runs in that group. Only Linux can also
// tie the child's life to ours.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// proc is a process found by descendants; without /proc there are none.
type proc struct{}

// descendants returns nil: without /proc, helpers outside the server's
// process group cannot be listed.
func descendants(int) []proc { return nil }

// treeOf returns nil: without /proc, processes cannot be listed.
func treeOf(int) []proc { return nil }

// alive is never called: there are no procs.
func (proc) alive() bool { return false }

// waitStopped cannot look without /proc; it gives the stop a moment.
func waitStopped(int) { time.Sleep(20 * time.Millisecond) }

// reap has nothing to do without descendants.
func reap([]proc) {}
