// Package configfile reads the config file of `meshrpc serve`: who may call,
// where the store lives, and programs to serve as procedures.
//
// The format is HuJSON, JSON with comments and trailing commas, as in a
// Tailscale policy file (docs/config.md). Every error names the file and
// the line of the problem, so that a bad file stops a node with a message
// a person can act on.
package configfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale/hujson"

	"github.com/meshrpc/meshrpc/node/command"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

// File is a parsed config file.
type File struct {
	Path       string
	Allow      []string // --allow rules
	Data       string   // the store's file, absolute
	Port       int
	Procedures []command.Spec
	// PersonalQuota limits each login's personal space (~/); zero fields
	// keep the node's defaults.
	PersonalQuota Quota
}

// Quota is a personal space's limit: bytes of keys and values, and keys.
type Quota struct {
	Bytes int64 `json:"bytes"`
	Keys  int64 `json:"keys"`
}

// fileJSON is the file's shape; unknown fields are errors.
type fileJSON struct {
	Allow         []string        `json:"allow"`
	Data          string          `json:"data"`
	Port          int             `json:"port"`
	Procedures    []procedureJSON `json:"procedures"`
	PersonalQuota Quota           `json:"personal_quota"`
}

type procedureJSON struct {
	Name          string      `json:"name"`
	Description   string      `json:"description"`
	Argv          []string    `json:"argv"`
	Params        []paramJSON `json:"params"`
	Dir           string      `json:"dir"`
	Env           []string    `json:"env"`
	Timeout       string      `json:"timeout"`
	MaxOutput     int         `json:"max_output"`
	MaxConcurrent int         `json:"max_concurrent"`
	Allow         []string    `json:"allow"`
	ReadOnly      bool        `json:"read_only"`
}

type paramJSON struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Optional    bool            `json:"optional"`
	Default     json.RawMessage `json:"default"`
	Pattern     string          `json:"pattern"`
}

// Load reads and checks the file at path. Relative paths in it (data, dir,
// a program given as ./script) are relative to the file's directory.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
}

// Parse parses b as the config file named path.
func Parse(path string, b []byte) (*File, error) {
	std, err := hujson.Standardize(b) // comments become blanks: offsets hold
	if err != nil {
		return nil, syntaxError(path, err)
	}
	pos := positions(std)
	errAt := func(field string, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", path, pos.line(std, field), fmt.Sprintf(format, args...))
	}
	var raw fileJSON
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, decodeError(path, std, pos, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s:%d: more than one JSON value; the file is one object", path, lineOf(std, int(dec.InputOffset())))
	}

	dir := filepath.Dir(path)
	f := &File{Path: path, Allow: raw.Allow, Port: raw.Port, PersonalQuota: raw.PersonalQuota}
	if raw.PersonalQuota.Bytes < 0 || raw.PersonalQuota.Keys < 0 {
		return nil, errAt("personal_quota", "a quota is a number of bytes and of keys, 0 for the default")
	}
	for i, rule := range raw.Allow {
		if _, err := authz.ParseRule(rule); err != nil {
			return nil, errAt(fmt.Sprintf("allow[%d]", i), "%v", err)
		}
	}
	if raw.Data != "" {
		f.Data = relativeTo(dir, raw.Data)
	}
	if raw.Port < 0 || raw.Port > 65535 {
		return nil, errAt("port", "port %d is out of range 1-65535", raw.Port)
	}
	seen := map[string]int{}
	for i, p := range raw.Procedures {
		field := fmt.Sprintf("procedures[%d]", i)
		spec, err := p.spec(dir)
		var fe *command.FieldError
		if err == nil {
			err = spec.Check()
		}
		if errors.As(err, &fe) {
			return nil, errAt(field+"."+fe.Field, "procedure %q: %v", p.Name, err)
		} else if err != nil {
			return nil, errAt(field, "procedure %q: %v", p.Name, err)
		}
		if j, dup := seen[spec.Name]; dup {
			return nil, errAt(field+".name", "procedure %q is declared twice (first at line %d)", spec.Name, pos.line(std, fmt.Sprintf("procedures[%d]", j)))
		}
		seen[spec.Name] = i
		f.Procedures = append(f.Procedures, spec)
	}
	return f, nil
}

func (p *procedureJSON) spec(dir string) (command.Spec, error) {
	s := command.Spec{
		Name:          p.Name,
		Description:   p.Description,
		Argv:          p.Argv,
		Env:           p.Env,
		MaxOutput:     p.MaxOutput,
		MaxConcurrent: p.MaxConcurrent,
		Allow:         p.Allow,
		ReadOnly:      p.ReadOnly,
	}
	if p.Dir != "" {
		s.Dir = relativeTo(dir, p.Dir)
	}
	if len(s.Argv) > 0 && strings.ContainsRune(s.Argv[0], '/') && s.Dir == "" {
		s.Argv = append([]string{relativeTo(dir, s.Argv[0])}, s.Argv[1:]...)
	}
	if p.Timeout != "" {
		d, err := time.ParseDuration(p.Timeout)
		if err != nil || d <= 0 {
			return s, &command.FieldError{Field: "timeout", Err: fmt.Errorf("%q is not a duration such as \"30s\" or \"10m\"", p.Timeout)}
		}
		s.Timeout = d
	}
	for i, pj := range p.Params {
		param := command.Param{Name: pj.Name, Type: pj.Type, Description: pj.Description, Optional: pj.Optional, Pattern: pj.Pattern}
		if len(pj.Default) > 0 && string(pj.Default) != "null" {
			var v any
			json.Unmarshal(pj.Default, &v)
			switch v := v.(type) {
			case string:
				param.Default = v
			case float64, bool:
				param.Default = string(pj.Default)
			default:
				return s, &command.FieldError{Field: fmt.Sprintf("params[%d].default", i), Err: fmt.Errorf("a default is a string, number or boolean")}
			}
		}
		s.Params = append(s.Params, param)
	}
	return s, nil
}

// relativeTo resolves a path in the file against the file's directory.
func relativeTo(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

var hujsonPos = regexp.MustCompile(`^hujson: line (\d+), column (\d+): `)

func syntaxError(path string, err error) error {
	msg := err.Error()
	if m := hujsonPos.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s:%s: %s", path, m[1], m[2], msg[len(m[0]):])
	}
	return fmt.Errorf("%s: %s", path, strings.TrimPrefix(msg, "hujson: "))
}

var unknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// decodeError places a decoding error on its line.
func decodeError(path string, b []byte, pos positionIndex, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("%s:%d: %s must be %s, not a JSON %s", path, lineOf(b, int(te.Offset)), te.Field, kindOf(te.Type.String()), te.Value)
	case errors.As(err, &se):
		return fmt.Errorf("%s:%d: %v", path, lineOf(b, int(se.Offset)), err)
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		line := pos.firstKey(b, m[1])
		return fmt.Errorf("%s:%d: unknown field %q; see docs/config.md for the fields", path, line, m[1])
	}
	return fmt.Errorf("%s: %v", path, err)
}

func kindOf(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "string":
		return "a string"
	case goType == "int":
		return "an integer"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "configfile."):
		return "an object"
	}
	return goType
}

// positionIndex maps a field path ("procedures[1].argv[0]") to the offset
// where it starts: its key in an object, its value in an array.
type positionIndex map[string]int

func (p positionIndex) line(b []byte, field string) int {
	for {
		if off, ok := p[field]; ok {
			return lineOf(b, off)
		}
		// A field the file does not hold (a missing argv): the nearest
		// enclosing one that it does.
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return 1
		}
		field = field[:i]
	}
}

// firstKey finds the first object key named key.
func (p positionIndex) firstKey(b []byte, key string) int {
	best := -1
	for field, off := range p {
		if (field == key || strings.HasSuffix(field, "."+key)) && (best < 0 || off < best) {
			best = off
		}
	}
	if best < 0 {
		return 1
	}
	return lineOf(b, best)
}

func positions(b []byte) positionIndex {
	p := positionIndex{}
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func(path string) error
	next := func() int { // offset of the next token
		off := int(dec.InputOffset())
		for off < len(b) && strings.IndexByte(" \t\r\n,:", b[off]) >= 0 {
			off++
		}
		return off
	}
	walk = func(path string) error {
		if _, ok := p[path]; !ok {
			p[path] = next()
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				off := next()
				key, err := dec.Token()
				if err != nil {
					return err
				}
				child := fmt.Sprint(key)
				if path != "" {
					child = path + "." + child
				}
				p[child] = off
				if err := walk(child); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(path + "[" + strconv.Itoa(i) + "]"); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	walk("")
	return p
}

func lineOf(b []byte, off int) int {
	return 1 + bytes.Count(b[:min(off, len(b))], []byte("\n"))
}
