package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// publisher posts the run's updates to the hub, one request at a time over
// a kept-alive connection.
type publisher struct {
	r      *run
	client *http.Client
	tr     *http.Transport
}

func newPublisher(r *run) *publisher {
	tr := &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: r.cfg.InsecureSkipVerify},
	}
	return &publisher{r: r, tr: tr, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (p *publisher) close() { p.tr.CloseIdleConnections() }

// publishAll publishes (or, for ProtocolDurable, appends) updates 0 to Updates-1, paced at cfg.Rate when it is
// set. It stops at the first update the hub refuses.
func (p *publisher) publishAll(ctx context.Context) error {
	cfg := p.r.cfg
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	data := make([]byte, 0, cfg.Payload+64)
	form := make(url.Values, 3)
	for n := range cfg.Updates {
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return nil
				}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now().UnixNano()
		p.r.pubStart.CompareAndSwap(0, now)
		data = AppendPayload(data[:0], n, now, cfg.Payload)
		var err error
		if cfg.Protocol == ProtocolDurable {
			err = send(ctx, p.client, p.r.cfg.PublisherToken, http.MethodPost, p.r.streamURL().String(), "text/plain", string(append(data, '\n')), http.StatusNoContent)
		} else {
			form.Set("topic", p.r.topic)
			form.Set("data", string(data))
			form.Set("id", p.r.updateID(n))
			err = send(ctx, p.client, p.r.cfg.PublisherToken, http.MethodPost, cfg.HubURL, "application/x-www-form-urlencoded", form.Encode(), 0)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.r.addError("publishing update %d: %v", n, err)
			return fmt.Errorf("publishing update %d of %d to %s: %w", n, cfg.Updates, cfg.HubURL, err)
		}
		p.r.pubCount.Add(1)
		p.r.pubEnd.Store(time.Now().UnixNano())
	}
	return nil
}

// createStream creates the run's Durable Streams stream, as text/plain.
func (p *publisher) createStream(ctx context.Context) error {
	u := p.r.streamURL().String()
	if err := send(ctx, p.client, p.r.cfg.PublisherToken, http.MethodPut, u, "text/plain", "", http.StatusCreated); err != nil {
		return fmt.Errorf("creating the stream %s: %w", u, err)
	}
	return nil
}

// send sends one request with client, token as its bearer token when not
// empty, and fails unless the answer is want (any 2xx when want is 0).
func send(ctx context.Context, client *http.Client, token, method, u, contentType, body string, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 || want != 0 && resp.StatusCode != want {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
