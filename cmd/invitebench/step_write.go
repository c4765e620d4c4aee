package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// baselineStream takes the raw publishes: the storage and replicas of
// INVITATIONS, on the same server, subjects of its own. It is deleted at the end.
const baselineStream = "INVITEBENCH"

// ensureBaselineStream creates the baseline stream like INVITATIONS.
func (b *bench) ensureBaselineStream(ctx context.Context) error {
	if b.js == nil {
		return errors.New("no NATS: give --nats-url with --url")
	}
	s, err := b.js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return fmt.Errorf("stream %s: %w", eventstore.StreamName, err)
	}
	inv := s.CachedInfo().Config
	b.replicas = inv.Replicas
	_, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: baselineStream, Description: "invitebench raw publish baseline (deleted after the run)",
		Subjects: []string{"invitebench.>"}, Storage: inv.Storage, Replicas: inv.Replicas,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew, MaxMsgs: -1, MaxBytes: -1,
		Duplicates: inv.Duplicates, AllowDirect: true, AllowAtomicPublish: true,
	})
	return err
}

// sampleBodies are two CloudEvents of a create, the size of what the service appends.
func sampleBodies() (created, reserved []byte) {
	evs := createEvents("acme-corporation", "firstname.lastname@example.com", time.Now())
	created, _ = domain.MarshalCloudEvent(evs[0])
	reserved, _ = domain.MarshalCloudEvent(evs[1])
	return created, reserved
}

// rawPublish is the limit of one durable append per command: a synchronous
// JetStream publish of one event-sized message, acknowledged once stored.
func (b *bench) rawPublish(ctx context.Context, clients int) result {
	body, _ := sampleBodies()
	return closedLoop(ctx, clients, b.cfg.duration, func(ctx context.Context, w int) error {
		_, err := b.js.Publish(ctx, "invitebench.raw."+strconv.Itoa(w), body)
		return err
	})
}

// rawBatch is what the service's create and accept append: one atomic batch
// of two messages, published the way transport/eventstore does it.
func (b *bench) rawBatch(ctx context.Context, clients int) result {
	created, reserved := sampleBodies()
	return closedLoop(ctx, clients, b.cfg.duration, func(ctx context.Context, w int) error {
		batch := nuid.Next()
		subject := "invitebench.batch." + strconv.Itoa(w)
		m1 := nats.NewMsg(subject + ".created")
		m1.Data = created
		m1.Header.Set("Nats-Batch-Id", batch)
		m1.Header.Set("Nats-Batch-Sequence", "1")
		m2 := nats.NewMsg(subject + ".reserved")
		m2.Data = reserved
		m2.Header.Set("Nats-Batch-Id", batch)
		m2.Header.Set("Nats-Batch-Sequence", "2")
		m2.Header.Set("Nats-Batch-Commit", "1")
		if err := b.nc.PublishMsg(m1); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		reply, err := b.nc.RequestMsgWithContext(ctx, m2)
		if err != nil {
			return err
		}
		return pubAckError(reply.Data)
	})
}

func pubAckError(data []byte) error {
	var ack struct {
		Seq   uint64 `json:"seq"`
		Error *struct {
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return fmt.Errorf("publish ack %q: %w", data, err)
	}
	if ack.Error != nil {
		return fmt.Errorf("publish: %s (%d)", ack.Error.Description, ack.Error.ErrCode)
	}
	return nil
}

func (b *bench) stepCreate(ctx context.Context) error {
	if err := b.ensureBaselineStream(ctx); err != nil {
		return err
	}
	for _, c := range b.cfg.clients {
		orgs := make([]string, c)
		for w := range orgs {
			orgs[w] = fmt.Sprintf("ib-%s-c%d-w%d", b.runID, c, w)
			if err := b.register(ctx, orgs[w]); err != nil {
				return err
			}
		}
		counters := make([]int, c)
		svc, stats := b.writeLoad(ctx, "create_invitations", func() result {
			return b.profiled(profileName("create", c), func() result {
				return closedLoop(ctx, c, b.cfg.duration, func(ctx context.Context, w int) error {
					counters[w]++
					body := `{"emails":["c` + strconv.Itoa(c) + `-w` + strconv.Itoa(w) + `-` + strconv.Itoa(counters[w]) + `@invitebench.example"]}`
					_, err := b.call(ctx, http.MethodPost, b.api+"/organizations/"+orgs[w]+"/invitations", b.admin, []byte(body), http.StatusCreated, false)
					return err
				})
			})
		})
		b.createRate[c] = svc.rate()
		raw := b.rawPublish(ctx, c)
		batch := b.rawBatch(ctx, c)
		name := fmt.Sprintf("create, %d clients", c)
		value, rawM, batchM := rateMeasure("POST one email", svc), rateMeasure("raw js.Publish", raw), rateMeasure("raw 2-message atomic batch", batch)
		var checks []check
		if c == 64 {
			checks = append(checks, ratioCheck(value, rawM, 0.5))
		}
		b.add("create", name, value, &rawM, joinNotes(stats.retries, errNote(svc, raw)), checks...)
		b.add("create", name+" (vs the batch it appends)", value, &batchM, errNote(batch))
		b.addWriteStats("create", name, stats)
	}
	return nil
}

func ratioCheck(v, base measure, atLeast float64) check {
	return check{desc: fmt.Sprintf("ratio ≥ %.2g", atLeast), ok: base.Value > 0 && v.Value/base.Value >= atLeast}
}

func p99Check(v measure, under time.Duration) check {
	ok := v.P99Ms != nil && *v.P99Ms < float64(under)/float64(time.Millisecond)
	return check{desc: "p99 < " + under.String(), ok: ok}
}

// errNote names the first error of results that had some.
func errNote(rs ...result) string {
	for _, r := range rs {
		if r.errs > 0 {
			return fmt.Sprintf("%d errors, the first: %v", r.errs, r.firstErr)
		}
	}
	return ""
}

func (b *bench) stepAccept(ctx context.Context) error {
	if err := b.ensureBaselineStream(ctx); err != nil {
		return err
	}
	for _, c := range b.cfg.clients {
		// Enough invitations for the step at the create rate and a margin;
		// the workers stop early (and say so) if they use them all.
		rate := b.createRate[c]
		if rate == 0 {
			rate = 500
		}
		window := (b.cfg.duration + warmupOf(b.cfg.duration)).Seconds()
		n := min(max(int(rate*1.5*window)+20*c, 100), 500_000)
		b.logf("  making %d invitations to accept at %d clients", n, c)
		org := fmt.Sprintf("ib-%s-accept-c%d", b.runID, c)
		invs, err := b.invite(ctx, org, n, fmt.Sprintf("a%d", c))
		if err != nil {
			return err
		}
		tokens := make([]string, len(invs))
		for i, inv := range invs {
			if tokens[i], err = b.mint(fmt.Sprintf("ib-user-%s-%d-%d", b.runID, c, i), inv.Email, nil); err != nil {
				return err
			}
		}
		var next atomic.Int64
		svc, stats := b.writeLoad(ctx, "accept_invitation", func() result {
			return b.profiled(profileName("accept", c), func() result {
				return closedLoop(ctx, c, b.cfg.duration, func(ctx context.Context, _ int) error {
					i := int(next.Add(1)) - 1
					if i >= len(invs) {
						return errExhausted
					}
					_, err := b.call(ctx, http.MethodPost, b.api+"/organizations/invitations/"+invs[i].Token+"/_accept", tokens[i], nil, http.StatusOK, false)
					return err
				})
			})
		})
		raw := b.rawPublish(ctx, c)
		note := joinNotes(stats.retries, errNote(svc, raw))
		if svc.exhausted {
			note = joinNotes(fmt.Sprintf("used all %d invitations made for the step; measured over %s", len(invs), svc.elapsed.Round(time.Millisecond)), note)
		}
		value, rawM := rateMeasure("POST accept by token", svc), rateMeasure("raw js.Publish", raw)
		b.add("accept", fmt.Sprintf("accept, %d clients", c), value, &rawM, note)
		b.addWriteStats("accept", fmt.Sprintf("accept, %d clients", c), stats)
	}
	return nil
}

// serviceCounters are what a write step reads from the service's /metrics:
// commands of one kind ended (all outcomes), the attempts they repeated,
// the event store's batches by the appends they held, and the CPU time
// the service's process has used.
type serviceCounters struct {
	done, retries, cpuSeconds float64
	batches                   batchHistogram
}

// batchHistogram is invitesvc_eventstore_batch_appends: batches committed,
// cumulative by upper bound of appends (commands) a batch.
type batchHistogram struct {
	le         []float64 // bounds, ascending; +Inf last
	cumulative []float64
	sum, count float64
}

func (b *bench) serviceCounters(ctx context.Context, command string) (serviceCounters, error) {
	var c serviceCounters
	data, err := b.call(ctx, http.MethodGet, strings.TrimSuffix(b.api, "/api/v1")+"/metrics", "", nil, http.StatusOK, true)
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			// Unlabelled: the histogram's sum and count.
			name, value, _ := strings.Cut(line, " ")
			v, err := strconv.ParseFloat(value, 64)
			switch {
			case err != nil:
			case name == "invitesvc_eventstore_batch_appends_sum":
				c.batches.sum = v
			case name == "invitesvc_eventstore_batch_appends_count":
				c.batches.count = v
			case name == "process_cpu_seconds_total":
				c.cpuSeconds = v
			}
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		if name == "invitesvc_eventstore_batch_appends_bucket" {
			le, err := strconv.ParseFloat(strings.Trim(strings.TrimPrefix(labels, "le="), `"`), 64)
			if err == nil {
				c.batches.le, c.batches.cumulative = append(c.batches.le, le), append(c.batches.cumulative, v)
			}
			continue
		}
		if !strings.Contains(labels, `command="`+command+`"`) {
			continue
		}
		switch name {
		case "invitesvc_commands_total":
			c.done += v
		case "invitesvc_command_retries_total":
			c.retries += v
		}
	}
	return c, nil
}

// since is the histogram of the batches committed after before was read.
func (h batchHistogram) since(before batchHistogram) batchHistogram {
	out := batchHistogram{le: h.le, cumulative: slices.Clone(h.cumulative), sum: h.sum - before.sum, count: h.count - before.count}
	if len(before.cumulative) == len(h.cumulative) {
		for i := range out.cumulative {
			out.cumulative[i] -= before.cumulative[i]
		}
	}
	return out
}

// String lists the share of batches in each bucket: "1: 2%, 2: 1%, 3-4: 5%, ...".
func (h batchHistogram) String() string {
	var parts []string
	prev, lower := 0.0, 1.0
	for i, le := range h.le {
		n := h.cumulative[i] - prev
		prev = h.cumulative[i]
		bucket := fmt.Sprintf("%g-%g", lower, le)
		switch {
		case math.IsInf(le, 1):
			bucket = fmt.Sprintf(">%g", lower-1)
		case lower == le:
			bucket = fmt.Sprint(le)
		}
		lower = le + 1
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %.0f%%", bucket, 100*n/h.count))
		}
	}
	return fmt.Sprintf("%.0f batches, commands a batch %s", h.count, strings.Join(parts, ", "))
}

// writeStats are what the service's metrics say of a write load.
type writeStats struct {
	retries string // commands done and the attempts they repeated (lost races)
	batches batchHistogram
	// cpuPerCommand is the service process's CPU time over the commands
	// done; 0 when unknown.
	cpuPerCommand time.Duration
}

// writeLoad runs load and reads what the service's metrics say of it.
func (b *bench) writeLoad(ctx context.Context, command string, load func() result) (result, writeStats) {
	before, err0 := b.serviceCounters(ctx, command)
	r := load()
	after, err1 := b.serviceCounters(ctx, command)
	done := after.done - before.done
	if err0 != nil || err1 != nil || done <= 0 {
		return r, writeStats{}
	}
	return r, writeStats{
		retries:       fmt.Sprintf("%.0f commands repeated %.0f attempts (lost races)", done, after.retries-before.retries),
		batches:       after.batches.since(before.batches),
		cpuPerCommand: time.Duration((after.cpuSeconds - before.cpuSeconds) / done * float64(time.Second)),
	}
}

// addWriteStats records how many commands shared a batch and the CPU a
// command cost, when the service reports them.
func (b *bench) addWriteStats(step, name string, s writeStats) {
	if h := s.batches; h.count > 0 {
		b.add(step, name+": commands a batch", valueMeasure("mean", h.sum/h.count, "commands/batch"), nil, h.String())
	}
	if s.cpuPerCommand > 0 {
		whose := "the service's process (process_cpu_seconds_total): the service and its embedded JetStream server"
		if !b.cfg.remote() {
			whose = "this process (process_cpu_seconds_total), which runs the service, its JetStream server and the load's HTTP clients; not Redis"
		}
		b.add(step, name+": CPU a command", valueMeasure("CPU time / commands", float64(s.cpuPerCommand)/float64(time.Millisecond), "ms"), nil, whose)
	}
}

// joinNotes joins the notes that are not empty.
func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}
