package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Logger writes one line per event: time, level, the stand-in's name, the
// message and key=value fields. Every line says "stand-in" so nobody mistakes
// these logs for the real bridge's.
type Logger struct {
	mu   sync.Mutex
	out  io.Writer
	name string
}

func NewLogger(out io.Writer, kind Kind) *Logger {
	return &Logger{out: out, name: "matrix-" + string(kind) + "-standin"}
}

// F is a log line's fields.
type F map[string]any

func (l *Logger) write(level, msg string, f F) {
	var b strings.Builder
	b.WriteString(time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteByte(' ')
	b.WriteString(level)
	b.WriteString(" [")
	b.WriteString(l.name)
	b.WriteString("] ")
	b.WriteString(msg)
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fmt.Sprint(f[k])
		if err, ok := f[k].(error); ok && err != nil {
			v = err.Error()
		}
		if v == "" || strings.ContainsAny(v, " \t\n\"=") {
			v = strconv.Quote(v)
		}
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.out, b.String())
}

func (l *Logger) Info(msg string, f F)  { l.write("INF", msg, f) }
func (l *Logger) Warn(msg string, f F)  { l.write("WRN", msg, f) }
func (l *Logger) Error(msg string, f F) { l.write("ERR", msg, f) }
func (l *Logger) Fatal(msg string, f F) { l.write("FTL", msg, f) }

// stdoutLogger is used by main.
func stdoutLogger(kind Kind) *Logger { return NewLogger(os.Stdout, kind) }
