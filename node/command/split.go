package command

import (
	"errors"
	"fmt"
	"strings"
)

// Split splits a command line into words the way a POSIX shell would
// (blanks separate; 'single' and "double" quotes and backslashes keep
// blanks in a word) but expands nothing: no variables, globs, ~, pipes or
// redirections. Since no shell runs the command, an unquoted character a
// shell would act on is refused rather than passed on by surprise.
func Split(line string) ([]string, error) {
	var sp splitter
	for i, r := range line {
		if err := sp.feed(r); err != nil {
			return nil, fmt.Errorf("%q: %c at offset %d %v", line, r, i, err)
		}
	}
	switch {
	case sp.escaped:
		return nil, fmt.Errorf("%q ends with a lone backslash", line)
	case sp.quote != 0:
		return nil, fmt.Errorf("%q: unterminated %c quote", line, sp.quote)
	}
	sp.endWord()
	return sp.words, nil
}

// splitter is Split's state between one character and the next.
type splitter struct {
	words   []string
	word    strings.Builder
	inWord  bool
	quote   rune // 0, '\'' or '"'
	escaped bool
}

// feed takes the next character of the line. Its error completes the
// sentence "<char> at offset <i> ...".
func (sp *splitter) feed(r rune) error {
	switch {
	case sp.escaped:
		if sp.quote == '"' && !strings.ContainsRune("\"\\$`\n", r) {
			sp.word.WriteRune('\\') // inside "", \ escapes only these
		}
		sp.word.WriteRune(r)
		sp.escaped, sp.inWord = false, true
	case sp.quote == '\'':
		if r == '\'' {
			sp.quote = 0
		} else {
			sp.word.WriteRune(r)
		}
	case sp.quote == '"':
		return sp.feedDoubleQuoted(r)
	case r == '\\':
		sp.escaped, sp.inWord = true, true
	case r == '\'' || r == '"':
		sp.quote, sp.inWord = r, true
	case r == ' ' || r == '\t' || r == '\n':
		sp.endWord()
	case strings.ContainsRune("|&;<>()$`*?", r) || (!sp.inWord && (r == '~' || r == '#')):
		return errors.New("means something to a shell, but no shell runs this command; quote it to pass it as is, or put the pipeline in a script and expose the script")
	default:
		sp.word.WriteRune(r)
		sp.inWord = true
	}
	return nil
}

func (sp *splitter) feedDoubleQuoted(r rune) error {
	switch r {
	case '"':
		sp.quote = 0
	case '\\':
		sp.escaped = true
	case '$', '`':
		return errors.New("would be expanded by a shell, and no shell runs this command; use single quotes to pass it literally")
	default:
		sp.word.WriteRune(r)
	}
	return nil
}

// endWord ends the word being read, if any.
func (sp *splitter) endWord() {
	if sp.inWord {
		sp.words = append(sp.words, sp.word.String())
		sp.word.Reset()
		sp.inWord = false
	}
}

// ParseExpose parses the one-line form NAME=COMMAND of serve --expose. The
// command is split by Split; a word that is exactly {param} declares a
// required string param that fills that argument.
func ParseExpose(s string) (Spec, error) {
	name, line, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(line) == "" {
		return Spec{}, fmt.Errorf("--expose %q: want NAME=COMMAND, e.g. --expose 'disk=df -h /'", s)
	}
	argv, err := Split(line)
	if err != nil {
		return Spec{}, fmt.Errorf("--expose %s: %v", name, err)
	}
	spec := Spec{Name: strings.TrimSpace(name), Argv: argv}
	for _, arg := range argv[1:] {
		if p, ok := placeholder(arg); ok && !spec.hasParam(p) {
			spec.Params = append(spec.Params, Param{Name: p})
		}
	}
	if err := spec.Check(); err != nil {
		return Spec{}, fmt.Errorf("--expose %s: %v", name, err)
	}
	return spec, nil
}

func (s *Spec) hasParam(name string) bool {
	for _, p := range s.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}
