package loadgen

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WritePlot draws the latency distribution of s (nanoseconds) as a
// cumulative distribution on a log-scaled latency axis, with p50 and p99
// marked, and writes it to w as a PNG image.
func WritePlot(w io.Writer, s Snapshot, title string) error {
	if s.Count == 0 {
		return errors.New("plotting latency: no latency samples")
	}
	ms := func(ns uint64) float64 { return math.Max(float64(ns)/1e6, 1e-4) }
	var cdf plotter.XYs
	var seen uint64
	for i, c := range s.Counts {
		if c == 0 {
			continue
		}
		lo, hi := bucketRange(i)
		if len(cdf) == 0 {
			cdf = append(cdf, plotter.XY{X: ms(lo), Y: 0})
		}
		seen += c
		cdf = append(cdf, plotter.XY{X: ms(hi + 1), Y: 100 * float64(seen) / float64(s.Count)})
	}

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "delivery latency (ms, log scale)"
	p.Y.Label.Text = "deliveries at or below (%)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())

	line, err := plotter.NewLine(cdf)
	if err != nil {
		return fmt.Errorf("plotting latency: %w", err)
	}
	line.Width = vg.Points(1.5)
	line.Color = color.RGBA{B: 200, A: 255}
	p.Add(line)
	p.Legend.Add("cumulative distribution", line)
	p.Legend.Top = true // the upper left stays clear of a CDF
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)

	for _, m := range []struct {
		q   float64
		lbl string
		col color.Color
	}{
		{0.50, "p50", color.RGBA{G: 150, A: 255}},
		{0.99, "p99", color.RGBA{R: 220, A: 255}},
	} {
		x := ms(s.Quantile(m.q))
		mark, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 100}})
		if err != nil {
			return fmt.Errorf("plotting latency: %w", err)
		}
		mark.Color = m.col
		mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(mark)
		p.Legend.Add(fmt.Sprintf("%s = %s", m.lbl, formatMS(x)), mark)
	}

	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plotting latency: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("writing the latency plot: %w", err)
	}
	return nil
}

// formatMS formats a duration in milliseconds with three significant digits.
func formatMS(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3g µs", ms*1e3)
	case ms < 1000:
		return fmt.Sprintf("%.3g ms", ms)
	default:
		return fmt.Sprintf("%.3g s", ms/1e3)
	}
}
