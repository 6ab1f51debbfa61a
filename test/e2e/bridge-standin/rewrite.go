package main

// What the real bridges' config upgraders do to config.yaml on every start (OBSERVED.md,
// "config rewrite on start"): matrix-qq 0.2.1 (bridgev2, whose network upgrader copies nothing)
// resets the whole `network:` section to upstream's example; matrix-wechat 0.2.4 keeps every value
// and adds the keys the file lacks, one of which it then reads back wrongly: `bridge.hs_proxy: null`
// gives `Ignoring incorrect config field type !!null at bridge->hs_proxy` on every start after the
// first. The file is saved through a temporary file in its directory, as mautrix does; when that
// fails, the real bridges say "Error updating config" and go on with what they read. With -n
// (--no-update) nothing is saved. Differences: the real upgraders rewrite the whole file from
// upstream's example (its comments and key order); the stand-in edits only these two places.

import (
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// upstreamQQNetwork is matrix-qq 0.2.1's pkg/connector/example-config.yaml, the section the real
// bridge writes back over the kit's.
const upstreamQQNetwork = `displayname_template: '{{or .Alias .Name "Unknown user"}}'
sign_servers:
  - https://sign.lagrangecore.org/api/sign/30366
  - https://sign.0w0.ing/api/sign/30366
reconnect:
  delay: 3
  max_times: 0
  interval: 7
`

const hsProxyWarning = "Ignoring incorrect config field type !!null at bridge->hs_proxy"

// mappingValue is the value node of `key` in a mapping node, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// upgradeConfig is the file as the real bridge saves it, and the warnings it logs on reading it.
func upgradeConfig(kind Kind, data []byte) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return data, nil, nil
	}
	root := doc.Content[0]
	var warnings []string
	switch kind {
	case KindQQ:
		var network yaml.Node
		if err := yaml.Unmarshal([]byte(upstreamQQNetwork), &network); err != nil {
			return nil, nil, err
		}
		if v := mappingValue(root, "network"); v != nil {
			*v = *network.Content[0]
		} else {
			root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "network"}, network.Content[0])
		}
	case KindWechat:
		bridge := mappingValue(root, "bridge")
		if bridge == nil || bridge.Kind != yaml.MappingNode {
			return data, nil, nil
		}
		if v := mappingValue(bridge, "hs_proxy"); v != nil {
			if v.Tag == "!!null" {
				warnings = append(warnings, hsProxyWarning)
			}
		} else {
			bridge.Content = append(bridge.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "hs_proxy"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"})
		}
	}
	out, err := yaml.Marshal(&doc)
	return out, warnings, err
}

// rewriteConfig logs what reading the file says and saves the upgraded file unless noUpdate.
func rewriteConfig(kind Kind, configPath string, noUpdate bool, log *Logger) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		log.Warn("Error updating config", F{"error": err})
		return
	}
	out, warnings, err := upgradeConfig(kind, data)
	for _, w := range warnings {
		log.Warn(w, nil)
	}
	if err != nil || noUpdate {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(configPath), ".config-*.yaml")
	if err != nil {
		log.Warn("Error updating config (the real bridge could not save its upgraded config here)", F{"error": err})
		return
	}
	_, werr := f.Write(out)
	cerr := f.Close()
	if werr == nil && cerr == nil {
		// The file keeps its mode, as mautrix's upgrader writes it back.
		if st, err := os.Stat(configPath); err == nil {
			_ = os.Chmod(f.Name(), st.Mode().Perm())
		}
		werr = os.Rename(f.Name(), configPath)
	}
	if werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		log.Warn("Error updating config", F{"error": werr})
	}
}
