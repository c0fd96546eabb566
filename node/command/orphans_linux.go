package command

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// AdoptOrphans makes this process the subreaper of the programs it runs
// (Linux's PR_SET_CHILD_SUBREAPER): a descendant whose parent exits becomes
// this process's child instead of init's. At the end of each run, every
// such orphan is killed and reaped, also one that left the program's
// process group and cleared its environment, which the group kill and the
// run's marker cannot find; an orphan that still carries the marker of a
// run under way is left to that run's end.
//
// It is process-wide and takes every child this process did not start as
// a program for an orphan: `meshrpc serve` calls it; a Go program that
// starts children of its own must not.
func AdoptOrphans() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	programs.Lock()
	programs.adopting = true
	programs.Unlock()
	return nil
}

// killOrphans kills and reaps the children of this process that it did
// not start as programs, once it has adopted orphans. An orphan's own
// children become orphans as it dies, so it looks again until none is
// left.
func killOrphans() {
	programs.Lock()
	defer programs.Unlock()
	if !programs.adopting {
		return
	}
	self := os.Getpid()
	for range 10 {
		found := false
		for _, pid := range childrenOf(self) {
			if programs.live[pid] != nil || carriesLiveMarker(pid) {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
			reap(pid)
			found = true
		}
		if !found {
			return
		}
	}
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var children []int
	for _, e := range dir {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		// pid (comm) STATE PPID ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if err != nil || i < 0 {
			continue
		}
		if f := bytes.Fields(stat[i+1:]); len(f) > 1 && string(f[1]) == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children
}

// carriesLiveMarker reports whether pid's environment holds the marker of
// a run under way.
func carriesLiveMarker(pid int) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if programs.markers[string(kv)] > 0 {
			return true
		}
	}
	return false
}

// reap waits, for a second at most, for the killed child pid to end, and
// collects its exit status so that no zombie is left.
func reap(pid int) {
	for range 1000 {
		got, err := syscall.Wait4(pid, nil, syscall.WNOHANG, nil)
		if got == pid || err != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
