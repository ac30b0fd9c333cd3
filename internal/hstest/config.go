package hstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// generateConfig creates the signing key and a CI-flavoured Dendrite config in dir, then adjusts
// the config for tests (see applyTestSettings).
func generateConfig(ctx context.Context, bin, dir string, opts Options) (string, error) {
	keys := exec.CommandContext(ctx, filepath.Join(bin, "generate-keys"), "--private-key", "matrix_key.pem")
	keys.Dir = dir
	if out, err := keys.CombinedOutput(); err != nil {
		return "", fmt.Errorf("generate dendrite signing key: %w: %s", err, out)
	}
	gen := exec.CommandContext(ctx, filepath.Join(bin, "generate-config"), "-ci", "-server", ServerName, "-dir", dir)
	gen.Dir = dir
	var stderr bytes.Buffer
	gen.Stderr = &stderr
	raw, err := gen.Output()
	if err != nil {
		return "", fmt.Errorf("generate dendrite config: %w: %s", err, stderr.Bytes())
	}
	var cfg map[string]any
	if err = yaml.Unmarshal(raw, &cfg); err != nil {
		return "", fmt.Errorf("parse generated dendrite config: %w", err)
	}
	if err = applyTestSettings(cfg, dir, opts); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "dendrite.yaml")
	if err = writeYAML(path, cfg); err != nil {
		return "", err
	}
	return path, nil
}

// refreshConfig re-applies the test settings (appservices, log level) to a kept config.
func refreshConfig(path, dir string, opts Options) error {
	cfg, err := readYAML(path)
	if err != nil {
		return err
	}
	if err = applyTestSettings(cfg, dir, opts); err != nil {
		return err
	}
	return writeYAML(path, cfg)
}

// applyTestSettings turns the generated config into one fit for tests: appservices registered,
// no federation (nothing may leave the machine), no rate limits (tests send bursts), a JetStream
// kept on disk so a restarted homeserver resumes where it stopped, and logs on stderr.
func applyTestSettings(cfg map[string]any, dir string, opts Options) error {
	files := make([]any, 0, len(opts.AppServices))
	for _, p := range opts.AppServices {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("appservice registration path %q: %w", p, err)
		}
		if _, err = os.Stat(abs); err != nil {
			return fmt.Errorf("appservice registration %s: %w", abs, err)
		}
		files = append(files, abs)
	}
	level := opts.LogLevel
	if level == "" {
		level = "info"
	}
	sets := []struct {
		path  []string
		value any
	}{
		{[]string{"app_service_api", "config_files"}, files},
		{[]string{"global", "disable_federation"}, true},
		{[]string{"global", "jetstream", "in_memory"}, false},
		{[]string{"global", "jetstream", "storage_path"}, filepath.Join(dir, "jetstream")},
		{[]string{"global", "report_stats", "enabled"}, false},
		{[]string{"client_api", "rate_limiting", "enabled"}, false},
		{[]string{"client_api", "registration_disabled"}, false},
		{[]string{"sync_api", "search", "enabled"}, false},
		{[]string{"logging"}, []any{map[string]any{"type": "std", "level": level}}},
	}
	for _, s := range sets {
		if err := setPath(cfg, s.path, s.value); err != nil {
			return err
		}
	}
	return nil
}

// setPath sets a nested key, creating intermediate maps, and fails loudly when the generated
// config has an unexpected shape rather than silently writing a key Dendrite would ignore.
func setPath(m map[string]any, path []string, value any) error {
	for i, key := range path[:len(path)-1] {
		next, ok := m[key]
		if !ok {
			child := map[string]any{}
			m[key] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("dendrite config: %v is a %T, expected a mapping", path[:i+1], next)
		}
		m = child
	}
	m[path[len(path)-1]] = value
	return nil
}

func readYAML(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var cfg map[string]any
	if err = yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return cfg, nil
}

func writeYAML(path string, cfg map[string]any) error {
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err = os.WriteFile(path, raw, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
