// Package command exposes programs as procedures: a Spec names a program,
// its argv and its declared params, and Procedure turns it into an
// rpc.Procedure that runs the program without a shell, bounded in time,
// output and concurrency.
//
// Params reach the program only as whole arguments: an argv element that is
// exactly "{name}" is replaced by the value of param name, so spaces, quotes,
// semicolons and $(...) in a value are the program's literal input, never
// something a shell would parse.
package command

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/meshrpc/meshrpc/rpc/authz"
)

// Defaults for the limits a Spec leaves at zero.
const (
	DefaultTimeout       = 20 * time.Second // under the CLI's 30 s, so a timed-out result reaches it
	DefaultMaxOutput     = 1 << 20          // bytes of stdout, and again of stderr
	DefaultMaxConcurrent = 4
)

// DefaultEnv is the environment a program gets when its Spec names none:
// enough to find programs and print dates, nothing secret.
var DefaultEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ"}

// Spec declares a program as a procedure.
type Spec struct {
	Name        string   // the method name, e.g. "backup" or "home.df"
	Description string   // one line, shown by rpc.discover
	Argv        []string // program and arguments; "{param}" elements take param values
	Params      []Param
	Dir         string        // working directory; default the node's
	Env         []string      // NAME (passed from the node's environment) or NAME=VALUE; default DefaultEnv
	Timeout     time.Duration // default DefaultTimeout
	MaxOutput   int           // cap on stdout and on stderr, in bytes; default DefaultMaxOutput
	// MaxConcurrent caps the copies running at once; more calls are refused
	// with "too many requests". Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Allow lists principals (self, *, user:LOGIN, tag:NAME, node:NAME)
	// that may call this procedure, besides those the node's rules allow.
	Allow []string
	// ReadOnly marks a program that changes nothing, safe to retry.
	ReadOnly bool
}

// Param is a declared parameter of a command.
type Param struct {
	Name        string
	Type        string // string (default), integer, number or boolean
	Description string
	// Optional params may be left out; their argv element is then dropped,
	// or replaced by Default when one is set.
	Optional bool
	Default  string
	// Pattern, a Go regular expression, must match the whole value.
	Pattern string
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)
	paramRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// placeholderRE finds "{name}" inside a longer argv element, which is
	// refused: a param is always a whole argument.
	placeholderRE = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_]*\}`)
)

// FieldError is a problem with one field of a Spec; Field is a path such as
// "argv[2]" or "params[0].pattern", so a config file can point at its line.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Check validates s: names, argv placeholders, param types and patterns,
// limits, rules, that the program exists and the directory is one. Errors
// are *FieldError.
func (s *Spec) Check() error {
	// In this order: the first error found is the one reported.
	for _, check := range []func() error{
		s.checkName, s.checkProgramFixed, s.checkParams, s.checkArgvUsesParams,
		s.checkEnv, s.checkLimits, s.checkAllow, s.checkProgramFound, s.checkDir,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Spec) checkName() error {
	if !nameRE.MatchString(s.Name) {
		return fieldErr("name", "%q is not a procedure name: use letters, digits, _ and -, in dot-separated parts, starting with a letter (e.g. \"backup\" or \"home.df\")", s.Name)
	}
	if strings.HasPrefix(s.Name, "rpc.") || strings.HasPrefix(s.Name, "kv.") {
		return fieldErr("name", "names beginning with rpc. or kv. are reserved (kv.* is the store's)")
	}
	return nil
}

// checkProgramFixed requires argv[0], the program, and a fixed one: no
// caller chooses what runs.
func (s *Spec) checkProgramFixed() error {
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return fieldErr("argv", "no program: argv needs at least the program, e.g. [\"uptime\"]")
	}
	if strings.HasPrefix(s.Argv[0], "{") {
		return fieldErr("argv[0]", "the program must be fixed, not a param")
	}
	return nil
}

// checkParams checks each declared param on its own: its name (once), its
// type, its pattern and its default.
func (s *Spec) checkParams() error {
	declared := map[string]bool{}
	for i, p := range s.Params {
		field := fmt.Sprintf("params[%d]", i)
		if !paramRE.MatchString(p.Name) {
			return fieldErr(field+".name", "%q is not a param name: use letters, digits and _", p.Name)
		}
		if declared[p.Name] {
			return fieldErr(field+".name", "param %q declared twice", p.Name)
		}
		declared[p.Name] = true
		if err := p.checkDeclaration(field); err != nil {
			return err
		}
	}
	return nil
}

func (p Param) checkDeclaration(field string) error {
	switch p.Type {
	case "", "string", "integer", "number", "boolean":
	default:
		return fieldErr(field+".type", "unknown type %q; want string, integer, number or boolean", p.Type)
	}
	if p.Pattern != "" {
		if _, err := regexp.Compile(p.Pattern); err != nil {
			return fieldErr(field+".pattern", "%v", err)
		}
	}
	if p.Default != "" {
		if !p.Optional {
			return fieldErr(field+".default", "a default makes sense only for an optional param")
		}
		if err := p.check(p.Default); err != nil {
			return fieldErr(field+".default", "%v", err)
		}
	}
	return nil
}

// checkArgvUsesParams requires each param placeholder in argv to be a
// whole argument naming a declared param, and each declared param to be
// used.
func (s *Spec) checkArgvUsesParams() error {
	declared := map[string]bool{}
	for _, p := range s.Params {
		declared[p.Name] = true
	}
	used := map[string]bool{}
	for i, arg := range s.Argv {
		if name, ok := placeholder(arg); ok {
			if !declared[name] {
				return fieldErr(fmt.Sprintf("argv[%d]", i), "%q names no declared param; declare it under params", arg)
			}
			used[name] = true
			continue
		}
		for _, m := range placeholderRE.FindAllString(arg, -1) {
			if declared[m[1:len(m)-1]] {
				return fieldErr(fmt.Sprintf("argv[%d]", i), "%q splices a param into a longer argument; a param must be a whole argument (%q), which the program receives as is", arg, m)
			}
		}
	}
	for _, p := range s.Params {
		if !used[p.Name] {
			return fieldErr("params", "param %q is declared but argv does not use it; put %q where it goes", p.Name, "{"+p.Name+"}")
		}
	}
	return nil
}

func (s *Spec) checkEnv() error {
	for i, e := range s.Env {
		name, _, _ := strings.Cut(e, "=")
		if !paramRE.MatchString(name) {
			return fieldErr(fmt.Sprintf("env[%d]", i), "%q is not NAME or NAME=VALUE", e)
		}
	}
	return nil
}

func (s *Spec) checkLimits() error {
	switch {
	case s.Timeout < 0:
		return fieldErr("timeout", "must not be negative")
	case s.MaxOutput < 0:
		return fieldErr("max_output", "must not be negative")
	case s.MaxConcurrent < 0:
		return fieldErr("max_concurrent", "must not be negative")
	}
	return nil
}

func (s *Spec) checkAllow() error {
	for i, a := range s.Allow {
		if err := checkPrincipal(a); err != nil {
			return fieldErr(fmt.Sprintf("allow[%d]", i), "%v", err)
		}
	}
	return nil
}

func (s *Spec) checkProgramFound() error {
	if _, err := s.program(); err != nil {
		return fieldErr("argv[0]", "%v", err)
	}
	return nil
}

func (s *Spec) checkDir() error {
	if s.Dir == "" {
		return nil
	}
	fi, err := os.Stat(s.Dir)
	if err != nil {
		return fieldErr("dir", "%v", err)
	}
	if !fi.IsDir() {
		return fieldErr("dir", "%s is not a directory", s.Dir)
	}
	return nil
}

// program finds argv[0]: a path as given, a bare name on PATH.
func (s *Spec) program() (string, error) {
	p := s.Argv[0]
	if strings.ContainsRune(p, filepath.Separator) {
		if s.Dir != "" && !filepath.IsAbs(p) {
			p = filepath.Join(s.Dir, p)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("program %s: %w", s.Argv[0], errors.Unwrap(err))
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("program %s is not executable", s.Argv[0])
		}
		return p, nil
	}
	path, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("program %q not found on PATH (%s); install it or give its full path", p, os.Getenv("PATH"))
	}
	return path, nil
}

// placeholder reports whether arg is exactly "{name}".
func placeholder(arg string) (string, bool) {
	if len(arg) > 2 && arg[0] == '{' && arg[len(arg)-1] == '}' && paramRE.MatchString(arg[1:len(arg)-1]) {
		return arg[1 : len(arg)-1], true
	}
	return "", false
}

// checkPrincipal accepts the principals of --allow rules. A method list
// makes no sense here: the rule is for this procedure.
func checkPrincipal(p string) error {
	r, err := authz.ParseRule(p)
	if err != nil {
		return err
	}
	if len(r.Methods) > 0 || strings.Contains(p, "=") {
		return fmt.Errorf("%q: give only the principal (self, *, user:LOGIN, tag:NAME or node:NAME); the rule is for this procedure", p)
	}
	return nil
}
