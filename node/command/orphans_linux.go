package command

import (
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
// left. The lock is held while orphans are told from programs and killed,
// not while they are reaped, so a program starting meanwhile never waits
// for that.
func killOrphans() {
	for range 10 {
		killed := killUnknownChildren()
		if len(killed) == 0 {
			return
		}
		for _, pid := range killed {
			reap(pid)
		}
	}
}

// killUnknownChildren kills this process's children that are neither a
// program under way nor carry the marker of one, and returns their pids.
func killUnknownChildren() (killed []int) {
	programs.Lock()
	defer programs.Unlock()
	if !programs.adopting {
		return nil
	}
	self := os.Getpid()
	for _, pid := range childrenOf(self) {
		if programs.live[pid] != nil || procEnvironHas(strconv.Itoa(pid), func(entry []byte) bool { return programs.markers[string(entry)] > 0 }) {
			continue
		}
		syscall.Kill(pid, syscall.SIGKILL)
		killed = append(killed, pid)
	}
	return killed
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
		if _, ppid, ok := procStat(e.Name()); ok && ppid == pid {
			children = append(children, child)
		}
	}
	return children
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
