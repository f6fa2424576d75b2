package main

import (
	"flag"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// applyFile sets every flag named in the YAML file at path that is not in
// set (given on the command line or by a GPUSH_ variable). An unknown key
// or a bad value stops start-up with a message naming it.
func applyFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var kv map[string]yaml.Node
	if err := yaml.Unmarshal(b, &kv); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	for name, node := range kv {
		f := fs.Lookup(name)
		if f == nil || name == "config" || name == "variants" {
			return fmt.Errorf("config %s: unknown setting %q (gpushd -h lists them)", path, name)
		}
		if set[name] {
			continue
		}
		if node.Kind != yaml.ScalarNode {
			return fmt.Errorf("config %s: %s: want a single value", path, name)
		}
		if err := f.Value.Set(node.Value); err != nil {
			return fmt.Errorf("config %s: %s=%q: %v", path, name, node.Value, err)
		}
	}
	return nil
}
