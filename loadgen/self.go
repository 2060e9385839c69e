package loadgen

import (
	"runtime"
	"time"
)

// Generator is the load generator's own CPU use while the hub was
// measured. A generator that is busy nearly all the time is the bottleneck
// of the run: it reads behind the hub, and its own queueing is part of the
// latency it reports.
type Generator struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUs is how many CPUs the generator may use (GOMAXPROCS, which
	// follows the CPU affinity it was started with).
	CPUs int `json:"cpus"`
	// Busy is CPUSeconds over the wall time of the measured phase times
	// CPUs: 1 means every CPU the generator had was busy throughout.
	Busy float64 `json:"busy"`
	// Saturated is Busy ≥ SaturatedBusy.
	Saturated bool `json:"saturated"`
}

// SaturatedBusy is the share of its CPUs above which the generator counts
// as saturated.
const SaturatedBusy = 0.9

// selfSample is a reading of this process's CPU time.
type selfSample struct {
	at  time.Time
	cpu time.Duration
	ok  bool // the system told the CPU time
}

// generatorBetween returns the generator's CPU use from a to b, or nil
// when either reading failed.
func generatorBetween(a, b selfSample) *Generator {
	wall := b.at.Sub(a.at)
	if !a.ok || !b.ok || wall <= 0 {
		return nil
	}
	g := &Generator{CPUSeconds: (b.cpu - a.cpu).Seconds(), CPUs: runtime.GOMAXPROCS(0)}
	g.Busy = g.CPUSeconds / (wall.Seconds() * float64(g.CPUs))
	g.Saturated = g.Busy >= SaturatedBusy
	return g
}
