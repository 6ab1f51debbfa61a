// Lists the programs that shell scripts start, for test/unit/setup-programs.test.ts: one JSON
// object per line, {"file","line","name"} for a program a command line runs and
// {"file","line","function"} for a shell function a script defines (a call of one is not a
// program). Scripts are parsed by mvdan.cc/sh (the parser behind shfmt), so heredoc bodies,
// quoted text and comments are never taken for commands.
//
//	shell-calls FILE...         each file
//	shell-calls -label L -      one script on stdin (a `sh -c` text from a TypeScript file), named L
//
// A name is reported only when it is literal text: `$VENV/bin/python` or `"$cmd"` is not
// knowable here. Wrappers are seen through (`sudo apt-get`, `timeout 5 nginx`, `xargs -0
// sha256sum`, `sh -c 'nginx -t'`), and both the wrapper and what it runs are reported.
// `command -v x` tests for x and starts nothing; `chroot DIR cmd`, `docker exec` and `ssh host
// cmd` run cmd somewhere else, so only the first word is reported.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

type record struct {
	File     string   `json:"file"`
	Line     uint     `json:"line"`
	Name     string   `json:"name,omitempty"`
	Function string   `json:"function,omitempty"`
	Args     []string `json:"args,omitempty"`
}

var out = bufio.NewWriter(os.Stdout)

func emit(r record) {
	b, _ := json.Marshal(r)
	out.Write(append(b, '\n'))
}

// literal gives a word's text when it has no expansion in it.
func literal(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(l.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// wrappers: programs that run the command their arguments name. The value is the options that
// take a separate value, so that the value is not taken for the command.
var wrappers = map[string]string{
	"sudo": "-u -g -C -D -h -p -U", "exec": "-a", "env": "-u -C -S", "nohup": "", "setsid": "",
	"nice": "-n", "timeout": "-s -k", "xargs": "-a -d -E -I -L -n -P -s", "flock": "-w -E -c",
	"stdbuf": "-i -o -e", "ionice": "-c -n -p",
}

// elsewhere: the command after these runs in another root, container or machine.
var elsewhere = map[string]bool{"chroot": true, "ssh": true, "docker": true, "unshare": true, "nsenter": true}

func calls(file string, base uint, words []*syntax.Word) {
	args := make([]string, 0, len(words))
	for _, w := range words {
		s, ok := literal(w)
		if !ok {
			s = "\x00" // not knowable
		}
		args = append(args, s)
	}
	for i := 0; i < len(args); {
		name := args[i]
		if name == "\x00" || strings.Contains(name, "=") && i == 0 && !strings.HasPrefix(name, "=") {
			return
		}
		line := base + words[i].Pos().Line() - 1
		rest := []string{}
		for _, a := range args[i+1:] {
			if a != "\x00" {
				rest = append(rest, a)
			} else {
				rest = append(rest, "")
			}
		}
		emit(record{File: file, Line: line, Name: name, Args: rest})
		if name == "command" && i+1 < len(args) && (args[i+1] == "-v" || args[i+1] == "-V") {
			return
		}
		if (name == "sh" || name == "bash") && i+2 < len(args) && args[i+1] == "-c" && args[i+2] != "\x00" {
			parse(file, line, args[i+2])
			return
		}
		valued, wraps := wrappers[name]
		if !wraps && name != "command" || elsewhere[name] {
			return
		}
		i++
		for i < len(args) {
			a := args[i]
			switch {
			case name == "env" && strings.Contains(a, "=") && !strings.HasPrefix(a, "-"):
				i++
			case strings.HasPrefix(a, "-") && a != "-":
				i++
				if strings.Contains(" "+valued+" ", " "+a+" ") {
					i++
				}
			case name == "timeout" && len(a) > 0 && a[0] >= '0' && a[0] <= '9':
				i++
				goto run
			case name == "flock":
				// flock FILE cmd, or flock FD (no command)
				if len(a) > 0 && a[0] >= '0' && a[0] <= '9' {
					return
				}
				i++
				goto run
			default:
				goto run
			}
		}
	run:
		if i >= len(args) {
			return
		}
	}
}

func parse(file string, base uint, text string) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(text), file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s:%d: %v\n", file, base, err)
		out.Flush()
		os.Exit(1)
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl:
			emit(record{File: file, Line: base + n.Pos().Line() - 1, Function: n.Name.Value})
		case *syntax.CallExpr:
			calls(file, base, n.Args)
		case *syntax.TestClause, *syntax.ArithmCmd, *syntax.LetClause, *syntax.DeclClause:
			// [[ ]], (( )), let, local/declare/export: no program (their $(...) still are walked below)
			return true
		}
		return true
	})
}

func main() {
	label := flag.String("label", "-", "the name of the script read from stdin")
	flag.Parse()
	defer out.Flush()
	for _, path := range flag.Args() {
		var text []byte
		var err error
		name := path
		if path == "-" {
			text, err = io.ReadAll(os.Stdin)
			name = *label
		} else {
			text, err = os.ReadFile(path)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		parse(name, 1, string(text))
	}
}
