package motoserver

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill moto_server when the test binary dies,
// so no server outlives a crashed or timed-out test.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
