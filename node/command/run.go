package command

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"
)

// Result is what a call of a command returns.
type Result struct {
	// ExitCode is the program's exit status; -1 when a signal ended it
	// (the timeout's kill included).
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	// TimedOut reports that the procedure's timeout killed the program's
	// process group; Stdout and Stderr hold what it wrote until then.
	TimedOut bool   `json:"timed_out,omitempty"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	// StdoutEncoding is "base64" when stdout is not UTF-8 text; Stdout then
	// holds it base64-encoded, so no byte is lost. Likewise for stderr.
	StdoutEncoding  string  `json:"stdout_encoding,omitempty"`
	StderrEncoding  string  `json:"stderr_encoding,omitempty"`
	StdoutTruncated bool    `json:"stdout_truncated"`
	StderrTruncated bool    `json:"stderr_truncated"`
	DurationMs      float64 `json:"duration_ms"`
}

// errProgram marks a program that could not be started.
var errProgram = errors.New("program could not start")

// run runs argv (already substituted) under s's limits. A timeout is a
// Result with TimedOut set; a program that cannot start, or a caller that
// gave up, is an error.
func (s *Spec) run(ctx context.Context, argv []string, extraEnv []string) (*Result, error) {
	path, err := s.program()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errProgram, err)
	}
	runCtx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	cmd := exec.CommandContext(runCtx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Dir = s.Dir
	run := runMarker()
	cmd.Env = append(append(s.environ(), extraEnv...), run)
	stdout, stderr := &cappedBuffer{max: s.maxOutput()}, &cappedBuffer{max: s.maxOutput()}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownProcessGroup(cmd)
	// Children that outlive the program may hold its pipes open; stop
	// waiting for them a moment after it exits.
	cmd.WaitDelay = time.Second

	start := time.Now()
	if err := startProgram(cmd, run); err != nil {
		return nil, fmt.Errorf("%w: %v", errProgram, err)
	}
	err = cmd.Wait()
	programEnded(cmd, run)
	killProcessGroup(cmd) // whatever the program left running ends with the call
	sweep(run)            // and so do its descendants that left the group (setsid)
	killOrphans()         // and those that also cleared their environment
	elapsed := time.Since(start)

	if ctx.Err() != nil {
		return nil, ctx.Err() // the caller gave up; the server answers for it
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		return nil, err
	}
	r := &Result{
		ExitCode:        cmd.ProcessState.ExitCode(),
		Signal:          signalOf(cmd.ProcessState),
		TimedOut:        runCtx.Err() != nil,
		StdoutTruncated: stdout.truncated,
		StderrTruncated: stderr.truncated,
		DurationMs:      float64(elapsed.Microseconds()) / 1000,
	}
	r.Stdout, r.StdoutEncoding = stdout.text()
	r.Stderr, r.StderrEncoding = stderr.text()
	return r, nil
}

func (s *Spec) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Spec) maxOutput() int {
	if s.MaxOutput > 0 {
		return s.MaxOutput
	}
	return DefaultMaxOutput
}

func (s *Spec) maxConcurrent() int {
	if s.MaxConcurrent > 0 {
		return s.MaxConcurrent
	}
	return DefaultMaxConcurrent
}

// environ is the program's environment: the allowed names that the node's
// environment has, and the fixed NAME=VALUE entries.
func (s *Spec) environ() []string {
	names := s.Env
	if names == nil {
		names = DefaultEnv
	}
	env := make([]string, 0, len(names))
	for _, e := range names {
		if strings.Contains(e, "=") {
			env = append(env, e)
		} else if v, ok := os.LookupEnv(e); ok {
			env = append(env, e+"="+v)
		}
	}
	return env
}

// cappedBuffer keeps the first max bytes written and counts the rest, so
// a program that prints without end neither blocks nor fills memory.
type cappedBuffer struct {
	buf       []byte
	max       int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	keep := p
	if room := b.max - len(b.buf); len(p) > room {
		keep, b.truncated = p[:max(room, 0)], true
	}
	b.buf = append(b.buf, keep...)
	return len(p), nil
}

// text returns the output as a JSON-safe string: as is when it is UTF-8
// (a rune cut by the cap is dropped), else base64 with encoding "base64".
func (b *cappedBuffer) text() (string, string) {
	out := b.buf
	if b.truncated {
		for i := 0; i < utf8.UTFMax && len(out) > 0 && !utf8.Valid(out); i++ {
			out = out[:len(out)-1]
		}
	}
	if utf8.Valid(out) {
		return string(out), ""
	}
	return base64.StdEncoding.EncodeToString(b.buf), "base64"
}

// runMarker is the environment entry that marks the processes of one run
// of a program: its descendants inherit it, also those that leave its
// process group (setsid), so sweep finds them. It is random, not the call
// id, which a caller chooses.
func runMarker() string {
	return "MESHRPC_RUN=" + rand.Text()
}
