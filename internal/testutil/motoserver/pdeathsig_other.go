//go:build !linux

package motoserver

import "os/exec"

func setPdeathsig(cmd *exec.Cmd) {}
