package command

import (
	"fmt"
	"strings"
)

// Split splits a command line into words the way a POSIX shell would
// (blanks separate; 'single' and "double" quotes and backslashes keep
// blanks in a word) but expands nothing: no variables, globs, ~, pipes or
// redirections. Since no shell runs the command, an unquoted character a
// shell would act on is refused rather than passed on by surprise.
func Split(line string) ([]string, error) {
	var (
		words   []string
		word    strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for i, r := range line {
		switch {
		case escaped:
			if quote == '"' && !strings.ContainsRune("\"\\$`\n", r) {
				word.WriteRune('\\') // inside "", \ escapes only these
			}
			word.WriteRune(r)
			escaped, inWord = false, true
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			case '$', '`':
				return nil, fmt.Errorf("%q: %c at offset %d would be expanded by a shell, and no shell runs this command; use single quotes to pass it literally", line, r, i)
			default:
				word.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune("|&;<>()$`*?", r) || (!inWord && (r == '~' || r == '#')):
			return nil, fmt.Errorf("%q: %c at offset %d means something to a shell, but no shell runs this command; quote it to pass it as is, or put the pipeline in a script and expose the script", line, r, i)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, fmt.Errorf("%q ends with a lone backslash", line)
	case quote != 0:
		return nil, fmt.Errorf("%q: unterminated %c quote", line, quote)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
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
