package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"maunium.net/go/mautrix/bridgev2"
)

// bridgeCollector reads logins, portals and ghosts when Prometheus scrapes, so the numbers are
// never stale and nothing is counted twice.
type bridgeCollector struct {
	br     *bridgev2.Bridge
	logins *prometheus.Desc
	rows   *prometheus.Desc
}

func networkOfID(id string) string {
	n, _, ok := strings.Cut(id, ".")
	if !ok {
		return "unknown"
	}
	return n
}

func (c *bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.logins
	ch <- c.rows
}

func (c *bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[[2]string]int{}
	for _, login := range c.br.GetAllCachedUserLogins() {
		state := string(login.BridgeState.GetPrev().StateEvent)
		if state == "" {
			state = "UNKNOWN"
		}
		counts[[2]string{networkOfID(string(login.ID)), state}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.logins, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, table := range []string{"portal", "ghost"} {
		rows, err := c.br.DB.Query(ctx, "SELECT id FROM "+table+" WHERE bridge_id=$1", c.br.ID)
		if err != nil {
			continue
		}
		perNet := map[string]int{}
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				perNet[networkOfID(id)]++
			}
		}
		_ = rows.Close()
		for n, count := range perNet {
			ch <- prometheus.MustNewConstMetric(c.rows, prometheus.GaugeValue, float64(count), table, n)
		}
	}
}

// Health is the JSON body of the health endpoint.
type Health struct {
	OK       bool                      `json:"ok"`
	Database string                    `json:"database"`
	Logins   map[string]map[string]int `json:"logins"`
}

// Serve registers /metrics and /_passerelle/health on the appservice listener, which should only
// be reachable from the homeserver and the operator's monitoring.
// It may be called once per process: the series of one bridge are global.
func Serve(br *bridgev2.Bridge, mux *http.ServeMux) error {
	err := Registry.Register(&bridgeCollector{
		br:     br,
		logins: prometheus.NewDesc("passerelle_logins", "Logins by network and bridge state (CONNECTED, TRANSIENT_DISCONNECT, BAD_CREDENTIALS…).", []string{"network", "state"}, nil),
		rows:   prometheus.NewDesc("passerelle_rows", "Portals and ghosts known to the bridge, by network.", []string{"table", "network"}, nil),
	})
	if err != nil {
		return fmt.Errorf("register bridge metrics: %w", err)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /_passerelle/health", func(w http.ResponseWriter, r *http.Request) {
		h := CheckHealth(r.Context(), br)
		w.Header().Set("Content-Type", "application/json")
		if !h.OK {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
	return nil
}

// CheckHealth reports whether the database answers and the state of every login.
func CheckHealth(ctx context.Context, br *bridgev2.Bridge) Health {
	h := Health{OK: true, Database: "ok", Logins: map[string]map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := br.DB.RawDB.PingContext(ctx); err != nil {
		h.OK = false
		h.Database = err.Error()
	}
	for _, login := range br.GetAllCachedUserLogins() {
		n := networkOfID(string(login.ID))
		if h.Logins[n] == nil {
			h.Logins[n] = map[string]int{}
		}
		h.Logins[n][string(login.BridgeState.GetPrev().StateEvent)]++
	}
	return h
}
