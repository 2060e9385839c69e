package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// writeDelayMetric is ssehub's histogram of the time from an update's
// publication to the write that sends it.
const writeDelayMetric = "ssehub_write_delay_seconds"

// WriteDelay is the hub's own share of delivery latency during the run,
// from ssehub's ssehub_write_delay_seconds histogram: for each write of
// live updates, how long ago the oldest of them was published. The
// figures are the upper bounds of the histogram's buckets, so they read
// "at most"; a quantile beyond the largest bound is left out (nil), and
// MaxMS says what that bound was.
type WriteDelay struct {
	Writes uint64   `json:"writes"`
	P50MS  *float64 `json:"p50_at_most_ms,omitempty"`
	P99MS  *float64 `json:"p99_at_most_ms,omitempty"`
	MaxMS  float64  `json:"largest_bound_ms"`
}

// MetricsURL returns where an ssehub hub at hubURL serves its metrics: the
// same origin, path /metrics.
func MetricsURL(hubURL string) string {
	u, err := url.Parse(hubURL)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/metrics"}).String()
}

// fetchWriteDelay fetches the hub's write-delay histogram. It returns nil
// and no error when the hub does not expose one.
func fetchWriteDelay(ctx context.Context, client *http.Client, metricsURL string) (*dto.Histogram, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("hub metrics: %w", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hub metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil // not a Prometheus text exposition: not ssehub's
	}
	f := families[writeDelayMetric]
	if f == nil || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetHistogram() == nil {
		return nil, nil
	}
	return f.GetMetric()[0].GetHistogram(), nil
}

// writeDelayBetween returns the delays observed between two readings of
// the histogram, or nil when there were none.
func writeDelayBetween(before, after *dto.Histogram) *WriteDelay {
	if after == nil {
		return nil
	}
	count := after.GetSampleCount() - before.GetSampleCount()
	if count == 0 {
		return nil
	}
	// Cumulative counts per upper bound, as of after minus before.
	prev := map[float64]uint64{}
	for _, b := range before.GetBucket() {
		prev[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	d := &WriteDelay{Writes: count}
	at := func(q float64) *float64 {
		need := uint64(math.Ceil(q * float64(count)))
		for _, b := range after.GetBucket() {
			if math.IsInf(b.GetUpperBound(), 1) {
				break
			}
			if b.GetCumulativeCount()-prev[b.GetUpperBound()] >= need {
				ms := b.GetUpperBound() * 1000
				return &ms
			}
		}
		return nil
	}
	for _, b := range after.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			d.MaxMS = max(d.MaxMS, b.GetUpperBound()*1000)
		}
	}
	d.P50MS, d.P99MS = at(0.5), at(0.99)
	return d
}
