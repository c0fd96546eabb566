package command

import (
	"bytes"
	"os"
	"strconv"
)

// procStat reads /proc/PID/stat: the process's state (R, S, Z, ...) and
// its parent's pid.
func procStat(pid string) (state byte, ppid int, ok bool) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) STATE PPID ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return f[0][0], ppid, err == nil
}

// procEnvironHas reports whether /proc/PID/environ holds an entry for
// which match is true.
func procEnvironHas(pid string, match func(entry []byte) bool) bool {
	env, err := os.ReadFile("/proc/" + pid + "/environ")
	if err != nil {
		return false
	}
	for entry := range bytes.SplitSeq(env, []byte{0}) {
		if match(entry) {
			return true
		}
	}
	return false
}
