package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// steps, in the order they run.
var steps = []string{"create", "accept", "lookup", "list", "lag", "rebuild", "memory"}

type config struct {
	clients     []int
	duration    time.Duration
	syncAlways  bool
	store       string // redis or memory: the service's read store
	only        map[string]bool
	jsonFile    string
	markdown    bool
	cpuProfile  string
	profileDir  string
	heapProfile string

	lagRate              int
	lagBatch             bool
	rebuildEvents        int
	writeHistory         int
	rebuildServiceEvents int
	memoryInvitations    int
	memorySettle         time.Duration
	listLimit            int
	readInvitations      int

	// A running service and its dependencies (--url mode), or the Redis to
	// use instead of a private one.
	url         string
	natsURL     string
	redisURL    string
	redisPrefix string
	jwtSecret   string
}

func (c config) runs(step string) bool { return c.only[step] }

// remote reports whether the tool targets a running service.
func (c config) remote() bool { return c.url != "" }

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("invitebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.String("clients", "1,16,64", "concurrent clients of each throughput step, comma separated")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time of each throughput step and of the lag step (after a warm-up of a tenth of it, at most 1s)")
	fs.BoolVar(&c.syncAlways, "sync-always", true, "embedded JetStream: fsync every write before acknowledging it (sync_interval: always), as invitesvc does by default; false: NATS's default, fsync every 2 minutes")
	fs.StringVar(&c.store, "store", "redis", "the service's read store: redis or memory")
	only := fs.String("only", strings.Join(steps, ","), "steps to run: "+strings.Join(steps, ","))
	fs.StringVar(&c.jsonFile, "json", "", "also write the figures as JSON to this file")
	fs.BoolVar(&c.markdown, "markdown", false, "print the table in Markdown")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (service, baselines and load alike) to this file")
	fs.StringVar(&c.heapProfile, "heapprofile", "", "write a heap profile to this file at the end of the memory step (what the process holds after the invitations were created)")
	fs.StringVar(&c.profileDir, "profile-dir", "", "write a CPU profile of each measured service load (not the baselines) to this directory, e.g. lookup-64.pprof")
	fs.IntVar(&c.lagRate, "lag-rate", 2000, "commands per second offered in the lag step (each a create: invitation.created and email.reserved)")
	fs.BoolVar(&c.lagBatch, "lag-batch", false, "lag step: append each command as the service does, one atomic batch, instead of two plain publishes (an R1 file stream cannot take 2,000 batches a second)")
	fs.IntVar(&c.rebuildEvents, "rebuild-events", 1_000_000, "events in the stream the rebuild step replays")
	fs.IntVar(&c.writeHistory, "write-history", 0, "events of other organizations put in the service's stream before it starts (in-process only), so that every step runs on a stream that long")
	fs.IntVar(&c.rebuildServiceEvents, "rebuild-service-events", 100_000, "events the service's own catch-up path (durable consumer, batches of up to 256 events) replays into Redis; 0 skips it")
	fs.IntVar(&c.memoryInvitations, "memory-invitations", 100_000, "invitations loaded by the memory step")
	fs.DurationVar(&c.memorySettle, "memory-settle", 15*time.Second, "memory step: wait this long before each RSS reading, for JetStream's block caches (kept 10s after their last use) to expire")
	fs.IntVar(&c.listLimit, "list-limit", 10, "invitations in the list page the list step reads (10 to 100)")
	fs.IntVar(&c.readInvitations, "read-invitations", 1000, "invitations created for the look-up and list steps")
	fs.StringVar(&c.url, "url", "", "a running service (e.g. http://127.0.0.1:8080) instead of an in-process one; lag and memory need the in-process one")
	fs.StringVar(&c.natsURL, "nats-url", "", "with --url: its NATS, for the raw JetStream baselines and the rebuild step")
	fs.StringVar(&c.redisURL, "redis-url", "", "a Redis to use instead of a private redis-server (keys under --redis-prefix, deleted at the end; never flushed)")
	fs.StringVar(&c.redisPrefix, "redis-prefix", "", "prefix of every key the tool writes to Redis (default invitebench-<run id>:)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "with --url: the service's HS256 secret, to mint tokens")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: invitebench [flags]\n\nMeasures the invitations service beside its baselines on this machine.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			errs = append(errs, fmt.Errorf("--clients: %q is not a number from 1 to 1024", f))
			continue
		}
		c.clients = append(c.clients, n)
	}
	c.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(steps, s) {
			errs = append(errs, fmt.Errorf("--only: unknown step %q (steps: %s)", s, strings.Join(steps, ",")))
		}
		c.only[s] = true
	}
	if c.duration < 10*time.Millisecond || c.duration > time.Hour {
		errs = append(errs, errors.New("--duration must be from 10ms to 1h"))
	}
	if c.store != "redis" && c.store != "memory" {
		errs = append(errs, errors.New("--store must be redis or memory"))
	}
	if c.lagRate < 1 || c.lagRate > 100_000 {
		errs = append(errs, errors.New("--lag-rate must be from 1 to 100000"))
	}
	if c.rebuildEvents < 10 || c.rebuildEvents > 100_000_000 {
		errs = append(errs, errors.New("--rebuild-events must be from 10 to 100000000"))
	}
	if c.writeHistory < 0 || c.writeHistory > 100_000_000 {
		errs = append(errs, errors.New("--write-history must be from 0 to 100000000"))
	}
	if c.rebuildServiceEvents < 0 {
		errs = append(errs, errors.New("--rebuild-service-events must not be negative"))
	}
	if c.memoryInvitations < 100 || c.memoryInvitations > 10_000_000 {
		errs = append(errs, errors.New("--memory-invitations must be from 100 to 10000000"))
	}
	if c.memorySettle < 0 || c.memorySettle > 10*time.Minute {
		errs = append(errs, errors.New("--memory-settle must be from 0 to 10m"))
	}
	if c.listLimit < 10 || c.listLimit > 100 {
		errs = append(errs, errors.New("--list-limit must be from 10 to 100"))
	}
	if c.readInvitations < 100 || c.readInvitations > 1_000_000 {
		errs = append(errs, errors.New("--read-invitations must be from 100 to 1000000"))
	}
	if c.remote() {
		if c.jwtSecret == "" {
			errs = append(errs, errors.New("--url needs --jwt-secret, to mint tokens"))
		}
		c.syncAlways = false // the running server's setting, unknown here
		if c.writeHistory > 0 {
			errs = append(errs, errors.New("--write-history needs the in-process service (no --url)"))
		}
	} else if c.natsURL != "" {
		errs = append(errs, errors.New("--nats-url goes with --url; without it the tool starts its own JetStream"))
	}
	return c, errors.Join(errs...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "invitebench:", err)
			os.Exit(1)
		}
	}
}

// run parses the flags, runs the steps and reports; stdout gets the table,
// stderr the progress.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if cfg.cpuProfile != "" && cfg.profileDir != "" {
		return errors.New("give --cpuprofile or --profile-dir, not both")
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b, err := newBench(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	b.args = args
	defer b.close()
	started := time.Now()
	for _, step := range steps {
		if !cfg.runs(step) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		b.logf("step %s", step)
		if err := b.step(ctx, step); err != nil {
			return fmt.Errorf("step %s: %w", step, err)
		}
	}
	rep := b.report(time.Since(started))
	if cfg.markdown {
		rep.writeMarkdown(stdout)
	} else {
		rep.writeText(stdout)
	}
	if cfg.jsonFile != "" {
		if err := rep.writeJSONFile(cfg.jsonFile); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) step(ctx context.Context, step string) error {
	switch step {
	case "create":
		return b.stepCreate(ctx)
	case "accept":
		return b.stepAccept(ctx)
	case "lookup":
		return b.stepLookup(ctx)
	case "list":
		return b.stepList(ctx)
	case "lag":
		return b.stepLag(ctx)
	case "rebuild":
		return b.stepRebuild(ctx)
	case "memory":
		return b.stepMemory(ctx)
	}
	return fmt.Errorf("unknown step %q", step)
}
