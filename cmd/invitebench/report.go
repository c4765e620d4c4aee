package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// measure is one measured quantity: a rate with its latencies, or a single
// value (lag percentiles, bytes, events per second).
type measure struct {
	Name   string   `json:"name"`
	Value  float64  `json:"value"`
	Unit   string   `json:"unit"`
	P50Ms  *float64 `json:"p50_ms,omitempty"`
	P99Ms  *float64 `json:"p99_ms,omitempty"`
	MaxMs  *float64 `json:"max_ms,omitempty"`
	Ops    int      `json:"ops,omitempty"`
	Errors int      `json:"errors,omitempty"`
}

// figure is one row of the report: a measure, its baseline and their ratio,
// and the target it is held to, if any.
type figure struct {
	Step     string   `json:"step"`
	Figure   string   `json:"figure"`
	Value    measure  `json:"value"`
	Baseline *measure `json:"baseline,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`
	Target   string   `json:"target,omitempty"`
	Met      *bool    `json:"met,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// check is one condition of a target.
type check struct {
	desc string
	ok   bool
}

func ms(d time.Duration) *float64 {
	v := float64(d) / float64(time.Millisecond)
	return &v
}

// rateMeasure turns a load result into a measure in operations per second.
func rateMeasure(name string, r result) measure {
	m := measure{Name: name, Value: r.rate(), Unit: "ops/s", Ops: r.ops, Errors: r.errs}
	if len(r.lat) > 0 {
		m.P50Ms, m.P99Ms, m.MaxMs = ms(r.percentile(0.50)), ms(r.percentile(0.99)), ms(r.max())
	}
	return m
}

func valueMeasure(name string, v float64, unit string) measure {
	return measure{Name: name, Value: v, Unit: unit}
}

// add records a figure; the ratio is value over baseline; checks, when
// given, make its target.
func (b *bench) add(step, name string, value measure, baseline *measure, note string, checks ...check) *figure {
	f := &figure{Step: step, Figure: name, Value: value, Baseline: baseline, Note: note}
	if baseline != nil && baseline.Value > 0 {
		r := value.Value / baseline.Value
		f.Ratio = &r
	}
	if len(checks) > 0 {
		var descs []string
		met := true
		for _, c := range checks {
			descs = append(descs, c.desc)
			met = met && c.ok
		}
		f.Target = strings.Join(descs, "; ")
		f.Met = &met
	}
	b.mu.Lock()
	b.figures = append(b.figures, f)
	b.mu.Unlock()
	b.logf("  %s: %s%s", name, formatMeasure(value), func() string {
		if baseline == nil {
			return ""
		}
		return " | " + baseline.Name + ": " + formatMeasure(*baseline)
	}())
	return f
}

// report is what a run prints and writes.
type report struct {
	Run     runInfo   `json:"run"`
	Figures []*figure `json:"figures"`
}

type runInfo struct {
	Started    time.Time `json:"started"`
	Took       string    `json:"took"`
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	CPUModel   string    `json:"cpu_model,omitempty"`
	MemTotal   string    `json:"mem_total,omitempty"`
	Target     string    `json:"target"`
	Store      string    `json:"store"`
	SyncAlways bool      `json:"sync_always"`
	Clients    []int     `json:"clients"`
	Duration   string    `json:"duration"`
	Args       []string  `json:"args"`
	// LoadAvg is /proc/loadavg at the start and at the end: other work on
	// the machine shows here.
	LoadAvg [2]string `json:"loadavg_start_end"`
	// ServiceWarnings counts the in-process service's log records at warn
	// and above (shown with the progress on stderr).
	ServiceWarnings int64 `json:"service_warnings"`
}

func (b *bench) report(took time.Duration) report {
	target := "in-process service, embedded JetStream (file storage, R1) over TCP loopback"
	if b.cfg.remote() {
		target = "running service at " + b.cfg.url
	}
	return report{
		Run: runInfo{
			Started: b.started, Took: took.Round(time.Second).String(), GoVersion: runtime.Version(),
			OS: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
			CPUModel: cpuModel(), MemTotal: memTotal(), Target: target, Store: b.cfg.store, SyncAlways: b.cfg.syncAlways,
			Clients: b.cfg.clients, Duration: b.cfg.duration.String(), Args: b.args,
			LoadAvg: [2]string{b.loadAvg, loadAvg()}, ServiceWarnings: b.serviceWarnings.Load(),
		},
		Figures: b.figures,
	}
}

func (r report) writeJSONFile(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (r report) header() string {
	fsync := "NATS default (fsync every 2 min)"
	switch {
	case r.Run.SyncAlways:
		fsync = "sync_interval: always (fsync every write)"
	case strings.HasPrefix(r.Run.Target, "running"):
		fsync = "as the running server is set"
	}
	return fmt.Sprintf("invitebench %s: %s, %d CPUs, %s, %s; %s; read store %s; JetStream sync %s; clients %v, %s a step; took %s; load average %s at the start, %s at the end; the service logged %d warnings",
		r.Run.Started.Format(time.DateOnly), r.Run.CPUModel, r.Run.CPUs, r.Run.MemTotal, r.Run.GoVersion, r.Run.Target,
		r.Run.Store, fsync, r.Run.Clients, r.Run.Duration, r.Run.Took, r.Run.LoadAvg[0], r.Run.LoadAvg[1], r.Run.ServiceWarnings)
}

func (r report) rows() [][]string {
	var rows [][]string
	for _, f := range r.Figures {
		base, ratio, met := "", "", ""
		if f.Baseline != nil {
			base = f.Baseline.Name + ": " + formatMeasure(*f.Baseline)
		}
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%.3g", *f.Ratio)
		}
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		val := formatMeasure(f.Value)
		if f.Value.Name != "" {
			val = f.Value.Name + ": " + val
		}
		rows = append(rows, []string{f.Figure, val, base, ratio, f.Target, met})
	}
	return rows
}

var columns = []string{"figure", "value", "baseline", "ratio", "target", "met?"}

func (r report) writeText(w io.Writer) {
	fmt.Fprintln(w, r.header())
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	for _, row := range r.rows() {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	r.writeNotes(w, "")
}

func (r report) writeMarkdown(w io.Writer) {
	fmt.Fprintln(w, r.header())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| "+strings.Join(columns, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(columns)))
	for _, row := range r.rows() {
		for i := range row {
			row[i] = strings.ReplaceAll(row[i], "|", `\|`)
		}
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
	r.writeNotes(w, "- ")
}

func (r report) writeNotes(w io.Writer, bullet string) {
	first := true
	for _, f := range r.Figures {
		if f.Note == "" {
			continue
		}
		if first {
			fmt.Fprintln(w)
			first = false
		}
		fmt.Fprintf(w, "%s%s: %s\n", bullet, f.Figure, f.Note)
	}
}

// formatMeasure writes a measure compactly: "1,234/s p50 1.20 ms p99 5.10 ms max 12.0 ms".
func formatMeasure(m measure) string {
	var s string
	switch m.Unit {
	case "ops/s":
		s = thousands(m.Value) + "/s"
	case "events/s":
		s = thousands(m.Value) + " events/s"
	case "ms":
		s = fmt.Sprintf("%.3g ms", m.Value)
	case "bytes":
		s = thousands(m.Value) + " B"
	case "MiB":
		s = fmt.Sprintf("%.1f MiB", m.Value)
	default:
		s = fmt.Sprintf("%.4g %s", m.Value, m.Unit)
	}
	if m.P50Ms != nil {
		s += fmt.Sprintf(" p50 %s p99 %s max %s", fmtMs(*m.P50Ms), fmtMs(*m.P99Ms), fmtMs(*m.MaxMs))
	}
	if m.Errors > 0 {
		s += fmt.Sprintf(" (%d errors)", m.Errors)
	}
	return s
}

func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0f µs", v*1000)
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// thousands writes a number with thousands separators, whole above 100.
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	if math.Abs(v) < 100 {
		return fmt.Sprintf("%.3g", v)
	}
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func memTotal() string {
	kb, err := procStatusKB("/proc/meminfo", "MemTotal")
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
