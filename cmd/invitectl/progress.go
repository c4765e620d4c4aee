package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress shows how far a long read is, its rate and the time left: a bar
// redrawn in place on a terminal, a line every few seconds elsewhere (a log).
type progress struct {
	w        io.Writer
	label    string
	total    uint64
	done     uint64
	terminal bool
	start    time.Time
	drawn    time.Time
}

func newProgress(w io.Writer, label string, total uint64) *progress {
	now := time.Now()
	return &progress{w: w, label: label, total: total, terminal: isTerminal(w), start: now, drawn: now}
}

// add counts n more done, and redraws when it is time to.
func (p *progress) add(n uint64) {
	p.done += n
	if p.done%256 != 0 {
		return // time.Now for every event would cost more than the drawing
	}
	every := 5 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if now := time.Now(); now.Sub(p.drawn) >= every {
		p.draw(now)
	}
}

// finish draws the final state.
func (p *progress) finish() {
	p.draw(time.Now())
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) draw(now time.Time) {
	p.drawn = now
	if p.terminal {
		fmt.Fprint(p.w, "\r"+p.line(now)+"\x1b[K")
		return
	}
	fmt.Fprintln(p.w, p.line(now))
}

const barWidth = 30

func (p *progress) line(now time.Time) string {
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(p.done) / max(elapsed, 1e-9)
	fraction := 1.0
	if p.total > 0 {
		fraction = min(float64(p.done)/float64(p.total), 1)
	}
	filled := int(fraction * barWidth)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", barWidth-filled)
	if filled < barWidth {
		bar = bar[:filled] + ">" + bar[filled+1:]
	}
	left := "done"
	if p.done < p.total {
		left = "~" + (time.Duration(float64(p.total-p.done) / max(rate, 1) * float64(time.Second))).Round(time.Second).String() + " left"
	}
	return fmt.Sprintf("%s [%s] %5.1f%% %s/%s events  %s/s  %s", p.label, bar, 100*fraction,
		thousands(p.done), thousands(p.total), thousands(uint64(rate)), left)
}
