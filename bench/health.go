package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat CPU times (100 on Linux).
const clockTicks = 100

// health is the part of /_passerelle/health the benchmark reads: logins per network and state.
type health struct {
	Logins map[string]map[string]int `json:"logins"`
}

// waitConnected polls the bridge's health endpoint until at least want logins exist and all of
// them are CONNECTED.
func waitConnected(ctx context.Context, address string, want int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, address+"/_passerelle/health", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			var h health
			err = json.NewDecoder(resp.Body).Decode(&h)
			_ = resp.Body.Close()
			if err == nil {
				total, connected := 0, 0
				for _, states := range h.Logins {
					for state, n := range states {
						total += n
						if state == "CONNECTED" {
							connected += n
						}
					}
				}
				if total >= want && connected == total {
					return nil
				}
				last = fmt.Sprint(h.Logins)
			} else {
				last = err.Error()
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("logins not all connected within %s (last health: %s)", timeout, last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
