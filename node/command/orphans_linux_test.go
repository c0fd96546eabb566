package command

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshrpc/meshrpc/internal/poll"
)

// A program's descendant that leaves its process group and clears its
// environment escapes the group kill and the run's marker. Once this
// process adopts orphans, it becomes this process's child when its parent
// exits, and ends with the call, reaped (no zombie). An orphan that carries
// the marker of a run still under way is left to that run.
func TestAdoptedOrphansEndWithTheirCall(t *testing.T) {
	if err := AdoptOrphans(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		programs.Lock()
		programs.adopting = false
		programs.Unlock()
	})
	dir := t.TempDir()
	daemon := `setsid -f sh -c 'echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 601 >/dev/null 2>&1 </dev/null' sh`
	waitFor := `while [ ! -e "$1" ]; do sleep 0.01; done`

	// Run a starts a daemon that keeps the run's marker, and is still
	// running when run b, whose daemon cleared its environment, ends.
	a := Spec{Name: "a", Argv: []string{"sh", "-c", daemon + ` "$1/a-pid"; ` + strings.ReplaceAll(waitFor, "$1", `$1/a-pid`) + `; ` +
		strings.ReplaceAll(waitFor, "$1", `$1/b-done`) + `; kill -0 "$(cat "$1/a-pid")" && echo alive`, "sh", dir}}
	aDone, aEnded := make(chan *Result, 1), make(chan struct{})
	go func() {
		defer close(aEnded)
		res, err := call(t, a, "")
		if err != nil {
			t.Error(err)
		}
		aDone <- res
	}()
	t.Cleanup(func() { // should the test fail, run a ends before it does
		os.WriteFile(filepath.Join(dir, "b-done"), nil, 0o644)
		<-aEnded
	})
	aPid := readPid(t, filepath.Join(dir, "a-pid"))

	b := Spec{Name: "b", Argv: []string{"sh", "-c", `env -i ` + daemon + ` "$1/b-pid"; ` + strings.ReplaceAll(waitFor, "$1", `$1/b-pid`), "sh", dir}}
	if res, err := call(t, b, ""); err != nil || res.ExitCode != 0 {
		t.Fatalf("run b: %+v, %v", res, err)
	}
	bPid := readPid(t, filepath.Join(dir, "b-pid"))
	if _, err := os.Stat("/proc/" + bPid); err == nil {
		stat, _ := os.ReadFile("/proc/" + bPid + "/stat")
		t.Fatalf("run b's daemon, which cleared its environment, is left after the call (pid %s): %s", bPid, stat)
	}

	os.WriteFile(filepath.Join(dir, "b-done"), nil, 0o644)
	if res := <-aDone; res == nil || strings.TrimSpace(res.Stdout) != "alive" {
		t.Fatalf("run a's daemon did not outlive run b: %+v", res)
	}
	if _, err := os.Stat("/proc/" + aPid); err == nil {
		stat, _ := os.ReadFile("/proc/" + aPid + "/stat")
		t.Fatalf("run a's daemon is left after its call (pid %s): %s", aPid, stat)
	}
}

// readPid waits for a program to write a pid to path. The process is
// killed when the test ends, should the test fail with it running.
func readPid(t *testing.T, path string) string {
	var pid string
	poll.Until(t, 10*time.Second, func() error {
		b, err := os.ReadFile(path)
		pid = strings.TrimSpace(string(b))
		return err
	})
	if n, err := strconv.Atoi(pid); err == nil {
		t.Cleanup(func() { syscall.Kill(n, syscall.SIGKILL) })
	}
	return pid
}
