package redisserver

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the child if this process dies first, so
// that an interrupted run leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
