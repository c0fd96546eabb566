package command

import (
	"os/exec"
	"sync"
)

// programs are the programs this process has started and not yet waited
// for, by pid, and the markers of the runs under way: what killOrphans
// must leave alone. Start and the kill of orphans hold its lock, so a
// program just started is never taken for an orphan.
var programs = struct {
	sync.Mutex
	adopting bool
	live     map[int]*exec.Cmd
	markers  map[string]int
}{live: map[int]*exec.Cmd{}, markers: map[string]int{}}

// startProgram starts cmd, one run of the program marked by marker.
func startProgram(cmd *exec.Cmd, marker string) error {
	programs.Lock()
	defer programs.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	programs.live[cmd.Process.Pid] = cmd
	programs.markers[marker]++
	return nil
}

// programEnded forgets cmd once it has been waited for.
func programEnded(cmd *exec.Cmd, marker string) {
	programs.Lock()
	defer programs.Unlock()
	if programs.live[cmd.Process.Pid] == cmd {
		delete(programs.live, cmd.Process.Pid)
	}
	if programs.markers[marker]--; programs.markers[marker] <= 0 {
		delete(programs.markers, marker)
	}
}
