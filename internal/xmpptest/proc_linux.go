package xmpptest

import "syscall"

// sysProcAttr makes the kernel kill prosody when the process that started it
// dies, so an interrupted test or demo does not leave a server holding ports
// and a temporary folder. (Strictly, the signal follows the death of the OS
// thread that started prosody; the Go runtime only retires threads locked
// with runtime.LockOSThread, which this package never does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
