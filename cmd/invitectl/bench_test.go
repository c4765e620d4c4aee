package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// benchEvents is the size of the benchmarks' stream: INVITECTL_BENCH_EVENTS,
// 200,000 by default.
func benchEvents(b *testing.B) int {
	n, err := strconv.Atoi(os.Getenv("INVITECTL_BENCH_EVENTS"))
	if err != nil {
		return 200_000
	}
	if n <= 0 {
		b.Fatalf("INVITECTL_BENCH_EVENTS=%d", n)
	}
	return n
}

// benchStream is a stream of benchEvents events on a server listening on
// TCP, as invitectl meets one: the server at INVITESVC_NATS_URL when set
// (filled if its stream is empty, so that the timed binary can be run
// against it by hand too), else one in this process. It returns the URL and
// the number of events.
func benchStream(b *testing.B) (string, int) {
	// The writer is the service: the seed of its role there, as invitesvc's
	// --nats-nkey, or the fixture's.
	url, writer := os.Getenv("INVITESVC_NATS_URL"), eventstore.Credentials{NKeyFile: os.Getenv("INVITESVC_NATS_NKEY")}
	if url == "" {
		f := newFixture(b)
		url, writer = f.url, f.service
	}
	opts, err := eventstore.ServiceOptions(writer)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if err := eventstore.EnsureStream(b.Context(), js, 1); err != nil {
		b.Fatal(err)
	}
	stream, err := js.Stream(b.Context(), eventstore.StreamName)
	if err != nil {
		b.Fatal(err)
	}
	if last := stream.CachedInfo().State.LastSeq; last > 0 {
		return url, int(last)
	}
	fl := newFiller(b, url, writer, testkit.Keys(b).Signer)
	start := time.Now()
	fl.fill(b, benchEvents(b))
	fl.wait(b)
	b.Logf("filled the stream with %d events in %s", fl.seq, time.Since(start).Round(time.Millisecond))
	return url, int(fl.seq)
}

// cpu is the CPU time used so far by this process (invitectl, and the NATS
// server unless INVITESVC_NATS_URL names another) and by Redis.
func cpu(b *testing.B, rs *readStore) (process, redis time.Duration) {
	ru := rusage(b)
	process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if rs != nil {
		for line := range strings.Lines(rs.client.Info(b.Context(), "cpu").Val()) {
			name, value, _ := strings.Cut(strings.TrimSpace(line), ":")
			if name == "used_cpu_user" || name == "used_cpu_sys" {
				s, _ := strconv.ParseFloat(value, 64)
				redis += time.Duration(s * float64(time.Second))
			}
		}
	}
	return process, redis
}

func rusage(b *testing.B) syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru
}

// measure runs invitectl b.N times and reports events per second of wall
// time, and the CPU each event cost: the machine is shared, so the wall
// time depends on what else runs, the CPU time much less.
func measure(b *testing.B, events int, rs *readStore, args ...string) {
	p0, r0 := cpu(b, rs)
	start := time.Now()
	for b.Loop() {
		if err := run(args, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start)
	p1, r1 := cpu(b, rs)
	total := float64(events * b.N)
	b.ReportMetric(total/took.Seconds(), "events/s")
	b.ReportMetric(float64((p1-p0).Microseconds())/total, "process-cpu-µs/event")
	if rs != nil {
		b.ReportMetric(float64((r1-r0).Microseconds())/total, "redis-cpu-µs/event")
	}
}

// BenchmarkVerify checks the log alone.
func BenchmarkVerify(b *testing.B) {
	url, events := benchStream(b)
	measure(b, events, nil, "verify", "--nats-url", url)
}

// BenchmarkVerifyReadStore checks the log and compares Redis, built by a
// rebuild, with a replay.
func BenchmarkVerifyReadStore(b *testing.B) {
	url, events := benchStream(b)
	rs := newReadStore(b)
	if err := run(append([]string{"rebuild", "--nats-url", url, "--allow-empty"}, rs.flags()...), io.Discard, io.Discard); err != nil {
		b.Fatal(err)
	}
	measure(b, events, rs, append([]string{"verify", "--nats-url", url}, rs.flags()...)...)
}

// BenchmarkRebuild replays the stream into a new generation and switches to
// it; each run deletes the previous one.
func BenchmarkRebuild(b *testing.B) {
	url, events := benchStream(b)
	rs := newReadStore(b)
	measure(b, events, rs, append([]string{"rebuild", "--nats-url", url, "--allow-empty"}, rs.flags()...)...)
}
