package main

// The parsed YAML documents the stand-in reads its files into, with path lookups.

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// tree is a parsed YAML document with path lookups.
type tree map[string]any

func (t tree) node(path ...string) (any, bool) {
	var cur any = map[string]any(t)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// str returns a scalar as a string; ok is false when absent, null or not a scalar.
func (t tree) str(path ...string) (string, bool) {
	v, ok := t.node(path...)
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(x), true
	}
	return "", false
}

func (t tree) strOr(def string, path ...string) string {
	if v, ok := t.str(path...); ok {
		return v
	}
	return def
}

func parseYAML(data []byte) (tree, error) {
	// Into a plain map: decoding into tree would make every nested map a tree too.
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return tree(m), nil
}
