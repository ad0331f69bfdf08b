package xmpptest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reapTimeout bounds how long reap waits for helper processes to go.
const reapTimeout = 3 * time.Second

// sysProcAttr makes the kernel kill the server when the process that
// started it dies, so an interrupted test or demo does not leave a server
// holding ports and a temporary folder. (Strictly, the signal follows the
// death of the OS thread that started it; the Go runtime only retires
// threads locked with runtime.LockOSThread, which this package never does.)
//
// The server also gets its own process group, so that Pause, Resume and
// Kill reach whatever it runs in the same group, and a Ctrl-C meant for the
// test binary does not race the harness's own shutdown.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// proc identifies a process across pid reuse: the pid plus its start time
// in clock ticks since boot.
type proc struct {
	pid   int
	start string
}

// procStat returns the parent pid, state and start time of pid from
// /proc/pid/stat.
func procStat(pid int) (ppid int, state, start string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", "", false
	}
	// The command name is in parentheses and may itself contain spaces
	// and parentheses; the fields after the last ')' are plain.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", "", false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22
	// (starttime) of proc(5).
	if len(f) < 20 {
		return 0, "", "", false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, "", "", false
	}
	return ppid, f[0], f[19], true
}

// descendants lists the live processes below pid. ejabberd's Erlang VM
// starts helpers (erl_child_setup and its port programs) in sessions of
// their own, which a signal to the server's process group does not reach.
func descendants(pid int) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := make(map[int][]proc)
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, start, ok := procStat(p)
		if !ok || state == "Z" {
			continue
		}
		children[ppid] = append(children[ppid], proc{pid: p, start: start})
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// waitStopped waits, bounded, until every thread of pid has stopped. A
// SIGSTOP takes effect a moment after kill returns, as each thread of a
// multi-threaded process (the Erlang VM) reaches the stop; until then the
// server may still answer.
func waitStopped(pid int) {
	deadline := time.Now().Add(reapTimeout)
	for time.Now().Before(deadline) && !allStopped(pid) {
		time.Sleep(time.Millisecond)
	}
}

func allStopped(pid int) bool {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return true // gone: nothing left to wait for
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) == 0 || (f[0] != "T" && f[0] != "t") {
			return false
		}
	}
	return true
}

// treeOf lists pid and the live processes below it.
func treeOf(pid int) []proc {
	_, state, start, ok := procStat(pid)
	if !ok || state == "Z" {
		return descendants(pid)
	}
	return append([]proc{{pid: pid, start: start}}, descendants(pid)...)
}

// alive reports whether p still runs (a zombie does not count), checking
// the start time so that a recycled pid is not mistaken for it.
func (p proc) alive() bool {
	_, state, start, ok := procStat(p.pid)
	return ok && start == p.start && state != "Z"
}

// reap kills the listed processes that still run and waits, bounded, until
// they are gone, so that nothing the server started outlives Kill or Stop.
func reap(ps []proc) {
	for _, p := range ps {
		if p.alive() {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(reapTimeout)
	for _, p := range ps {
		for p.alive() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}
