package command

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

// sweep kills every process of this user whose environment holds marker:
// what a program started and left running outside its process group. It
// looks again until none is left, as one may have forked meanwhile. A
// descendant that cleared its environment escapes it; a cgroup would not
// let it, but needs a delegated cgroup tree this node may not have.
func sweep(marker string) {
	uid, self := os.Getuid(), os.Getpid()
	var killed []string
	for range 10 {
		dir, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range dir {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			if fi, err := e.Info(); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
				continue
			}
			if !procEnvironHas(e.Name(), func(entry []byte) bool { return string(entry) == marker }) {
				continue
			}
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed = append(killed, e.Name())
			}
		}
		if len(killed) == 0 {
			return
		}
		for _, pid := range killed {
			waitDead(pid)
		}
		killed = killed[:0]
	}
}

// waitDead waits, for a second at most, until the process killed is a
// zombie or gone: a kill is delivered asynchronously.
func waitDead(pid string) {
	for range 1000 {
		if state, _, ok := procStat(pid); !ok || state == 'Z' || state == 'X' {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
