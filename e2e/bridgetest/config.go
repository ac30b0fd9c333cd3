package bridgetest

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Config is a bridge config file decoded into plain maps, for tests to read and change keys by
// path without depending on the config structs.
type Config map[string]any

// Set stores value at the nested key path (e.g. "encryption", "allow"), creating mappings on the
// way. It fails when a key on the way holds something other than a mapping, so a typo or a moved
// section shows up as an error instead of a key the bridge silently ignores.
func (c Config) Set(value any, path ...string) error {
	if len(path) == 0 {
		return fmt.Errorf("config: empty key path")
	}
	m := map[string]any(c)
	for i, key := range path[:len(path)-1] {
		next, ok := m[key]
		if !ok || next == nil {
			child := map[string]any{}
			m[key] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("config: %v holds a %T, not a mapping", path[:i+1], next)
		}
		m = child
	}
	m[path[len(path)-1]] = value
	return nil
}

// Get returns the value at the nested key path, or nil when any key on the way is missing.
func (c Config) Get(path ...string) any {
	var cur any = map[string]any(c)
	for _, key := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[key]
	}
	return cur
}

// String returns the string at the nested key path, or "" when it is missing or not a string.
func (c Config) String(path ...string) string {
	s, _ := c.Get(path...).(string)
	return s
}

// ReadConfig decodes a YAML config file.
func ReadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	// Decode into a plain map: into the named type, yaml.v3 would make every nested mapping a
	// Config too, and Set/Get look for map[string]any.
	var cfg map[string]any
	if err = yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("config %s is empty", path)
	}
	return Config(cfg), nil
}

// WriteConfig encodes cfg as YAML into path (mode 0600: it holds tokens).
func WriteConfig(path string, cfg Config) error {
	raw, err := yaml.Marshal(map[string]any(cfg))
	if err != nil {
		return fmt.Errorf("encode config %s: %w", path, err)
	}
	if err = os.WriteFile(path, raw, 0o600); err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}

// EditConfig reads path, applies edit and writes it back.
func EditConfig(path string, edit func(Config) error) error {
	cfg, err := ReadConfig(path)
	if err != nil {
		return err
	}
	if err = edit(cfg); err != nil {
		return fmt.Errorf("edit config %s: %w", path, err)
	}
	return WriteConfig(path, cfg)
}
