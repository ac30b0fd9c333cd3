// Package metrics is what an operator watches: Prometheus series for messages bridged per network
// and direction, their latency, errors, connected logins, portals and ghosts, served on the
// appservice listener at /metrics next to a JSON health report.
//
// bridgev2 has no metrics of its own, so the connectors report through the Observe* functions
// here, and gauges that the database or bridge already know are read at scrape time.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Direction of a bridged event.
type Direction string

const (
	// ToMatrix is remote network → Matrix.
	ToMatrix Direction = "to_matrix"
	// ToRemote is Matrix → remote network.
	ToRemote Direction = "to_remote"
)

// Registry holds every Passerelle series plus the Go runtime and process collectors.
var Registry = prometheus.NewRegistry()

var (
	messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_messages_total",
		Help: "Events bridged, by network, direction, kind (message, edit, reaction, redaction, receipt…) and outcome (ok or failed).",
	}, []string{"network", "direction", "kind", "outcome"})
	latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "passerelle_bridge_latency_seconds",
		Help:    "Time the bridge spent on an event, from receiving it to the other side accepting it.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"network", "direction"})
	errorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_errors_total",
		Help: "Errors by network and kind (connect, send, decrypt, media, flood_wait, …).",
	}, []string{"network", "kind"})
	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "passerelle_queue_depth",
		Help: "Events waiting in a network's queues (outbox of unsent messages, pending remote events).",
	}, []string{"network", "queue"})
	caughtUp = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "passerelle_catchup_events_total",
		Help: "Matrix events the homeserver stored but never pushed to the bridge, found by reading the rooms and bridged late.",
	})
	floodWait = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "passerelle_flood_wait_seconds_total",
		Help: "Seconds spent waiting for a network's rate limits.",
	}, []string{"network"})
)

func init() {
	Registry.MustRegister(messages, latency, errorsTotal, queueDepth, floodWait, caughtUp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// ObserveEvent records one bridged event; start is when the bridge received it.
func ObserveEvent(network string, dir Direction, kind string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	messages.WithLabelValues(network, string(dir), kind, outcome).Inc()
	if err == nil && !start.IsZero() {
		latency.WithLabelValues(network, string(dir)).Observe(time.Since(start).Seconds())
	}
}

// ObserveCatchup counts Matrix events that only catch-up found: each one is a homeserver fault
// that would have lost a message.
func ObserveCatchup(n int) { caughtUp.Add(float64(n)) }

// ObserveError counts an error of some kind on a network.
func ObserveError(network, kind string) { errorsTotal.WithLabelValues(network, kind).Inc() }

// SetQueueDepth reports the current length of a named queue.
func SetQueueDepth(network, queue string, n int) {
	queueDepth.WithLabelValues(network, queue).Set(float64(n))
}

// ObserveFloodWait adds time spent in a rate-limit wait.
func ObserveFloodWait(network string, d time.Duration) {
	floodWait.WithLabelValues(network).Add(d.Seconds())
}
