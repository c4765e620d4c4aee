package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// storeCheck compares the read models in Redis with a replay of the stream
// into memory by the service's own projector, at the checkpoint Redis is at.
type storeCheck struct {
	redis    *redisstore.Store // pinned to the generation live at the start
	gen      uint64
	report   func(string)
	replay   *replay
	target   uint64 // the checkpoint to replay to
	ids      universe
	compared int
}

func newStoreCheck(ctx context.Context, client *redis.Client, prefix string, personal projections.PersonalData, out *problems) (*storeCheck, error) {
	gen, err := redisstore.New(client, prefix).Generation(ctx)
	if err != nil {
		return nil, err
	}
	s := redisstore.New(client, prefix, redisstore.InGeneration(gen))
	cp, err := s.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	mem := projections.NewMemoryStore()
	return &storeCheck{redis: s, gen: gen, report: out.add, target: cp, ids: newUniverse(),
		replay: &replay{mem: mem, projector: projections.NewProjector(mem, personal, slog.New(slog.DiscardHandler))}}, nil
}

// feed takes the ids of every event, and the events up to the target to
// replay.
func (sc *storeCheck) feed(d *decoded) error {
	if d.err == nil {
		sc.ids.add(d.event)
	}
	if d.seq <= sc.target {
		sc.replay.add(*d)
	}
	return nil
}

// advance reads the stream on from where the replay is, up to the target.
func (sc *storeCheck) advance(ctx context.Context, r *reader) error {
	if sc.replay.at >= sc.target || sc.replay.stuck != nil {
		return nil
	}
	sc.replay.start(ctx)
	err := r.readDecoded(ctx, query{fromSeq: sc.replay.at + 1, toSeq: sc.target, follow: true}, sc.feed)
	return errors.Join(err, sc.replay.finish())
}

// catchUp advances the replay to the target. It reports false when the
// projector cannot apply an event before it, which it reports as a problem:
// Redis then holds what the service's projector could not have written.
func (sc *storeCheck) catchUp(ctx context.Context, r *reader) (bool, error) {
	if err := sc.advance(ctx, r); err != nil {
		return false, err
	}
	if sc.replay.stuck != nil {
		sc.report(fmt.Sprintf("read store: not compared: Redis is at checkpoint %d, but the service's projector cannot apply %v", sc.target, sc.replay.stuck))
		return false, nil
	}
	return true, nil
}

// maxRounds bounds how often differences are read again while the service
// keeps writing.
const maxRounds = 10

// run compares every record a replay knows of or Redis holds. Redis keeps
// moving while it is read: a difference counts only once it stands with
// Redis still at the checkpoint the replay is at, so the differences are
// read again, the replay moved on, until Redis stands still.
func (sc *storeCheck) run(ctx context.Context, r *reader) error {
	// Where Redis is now, rather than when the log check began, leaves less
	// to read again.
	var err error
	if sc.target, err = sc.redis.Checkpoint(ctx); err != nil {
		return err
	}
	info, err := r.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", eventstore.StreamName, err)
	}
	if sc.target > info.State.LastSeq {
		sc.report(fmt.Sprintf("read store: checkpoint %d is past the stream's last event %d", sc.target, info.State.LastSeq))
		return nil
	}
	if ok, err := sc.catchUp(ctx, r); !ok {
		return err
	}
	check, diffs, unknown, err := sc.survey(ctx)
	if err != nil {
		return err
	}
	for round := 0; ; round++ {
		more, err := sc.compare(ctx, check)
		if err != nil {
			return err
		}
		if diffs = append(diffs, more...); len(diffs) == 0 && len(unknown) == 0 {
			return nil
		}
		if sc.target, err = sc.redis.Checkpoint(ctx); err != nil {
			return err
		}
		if sc.target < sc.replay.at {
			return fmt.Errorf("the read store went back from checkpoint %d to %d while verify read it (flushed, or rebuilt): run verify again", sc.replay.at, sc.target)
		}
		if sc.target == sc.replay.at || round == maxRounds {
			break
		}
		if ok, err := sc.catchUp(ctx, r); !ok {
			return err
		}
		check = check[:0]
		for _, d := range diffs {
			check = append(check, d.item)
		}
		diffs = nil
		unknown = slices.DeleteFunc(unknown, func(k redisstore.Key) bool {
			user, known := sc.ids.members[[2]string{k.OrganizationID, k.ID}]
			if known {
				check = append(check, item{kind: itemMember, org: k.OrganizationID, id: user})
			}
			return known
		})
	}
	moving := ""
	if sc.target != sc.replay.at {
		moving = fmt.Sprintf(" (Redis kept moving; compared at checkpoint %d)", sc.replay.at)
	}
	for _, d := range diffs {
		sc.report(fmt.Sprintf("read store: %s: %s%s", d.item, d.text, moving))
	}
	for _, k := range unknown {
		sc.report(fmt.Sprintf("read store: member key of %s for user hash %s: no membership in the stream has that user%s", k.OrganizationID, short(k.ID), moving))
	}
	return nil
}

// survey walks Redis's keys and lists what to compare: each organization
// and its lists, which hold every invitation and member record, and the
// records Redis holds beyond the replay's. Tokens it compares at once, from
// what the walk read: which invitation each names. Keys that contradict
// themselves are reported at once: no write is ever half done, so that does
// not come from a write in progress. Members are keyed by a hash of the user
// id in Redis: those of users the events do not name come back apart.
func (sc *storeCheck) survey(ctx context.Context) (check []item, tokenDiffs []difference, unknown []redisstore.Key, err error) {
	set := map[item]bool{}
	for org := range sc.ids.orgs {
		for _, it := range organizationItems(org) {
			set[it] = true
		}
	}
	mem := sc.replay.mem
	tokens := map[string]string{}    // hash: the invitation its key names
	invitations := map[string]bool{} // organization/id of every invitation key
	err = sc.redis.Keys(ctx, func(k redisstore.Key) error {
		if k.Problem != "" {
			sc.report(fmt.Sprintf("read store: %s key %s: %s", kindNames[k.Kind], keyName(k), k.Problem))
		}
		var known bool
		var err error
		switch k.Kind {
		case redisstore.KeyOrganization, redisstore.KeyBucket, redisstore.KeyMembers:
			for _, it := range organizationItems(k.OrganizationID) {
				set[it] = true
			}
		case redisstore.KeyInvitation:
			invitations[k.OrganizationID+"/"+k.ID] = true
			if _, known, err = mem.Invitation(ctx, k.OrganizationID, k.ID); !known {
				set[item{kind: itemInvitation, org: k.OrganizationID, id: k.ID}] = true
			}
		case redisstore.KeyMember:
			user, named := sc.ids.members[[2]string{k.OrganizationID, k.ID}]
			if !named {
				unknown = append(unknown, k)
			} else if _, known, err = mem.Member(ctx, k.OrganizationID, user); !known {
				set[item{kind: itemMember, org: k.OrganizationID, id: user}] = true
			}
		case redisstore.KeyToken:
			if k.Problem == "" {
				tokens[k.ID] = k.OrganizationID + "/" + k.Invitation
			}
			sc.ids.tokens[k.ID] = true
		}
		return err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for tok := range sc.ids.tokens {
		it := item{kind: itemToken, id: tok}
		want, err := it.read(ctx, mem)
		if err != nil {
			return nil, nil, nil, err
		}
		var got any
		if target, ok := tokens[tok]; ok && invitations[target] {
			got = target // as InvitationByToken reads it: the key it names, if that exists
		}
		sc.compared++
		if want != got {
			tokenDiffs = append(tokenDiffs, difference{item: it, text: describe(want, got)})
		}
	}
	for it := range set {
		check = append(check, it)
	}
	return check, tokenDiffs, unknown, nil
}

// organizationItems are an organization's record and its lists.
func organizationItems(org string) []item {
	items := []item{{kind: itemOrganization, org: org}, {kind: itemMembers, org: org}}
	for _, b := range []projections.Bucket{projections.BucketAll, projections.BucketOpen, projections.BucketAccepted, projections.BucketCancelled} {
		items = append(items, item{kind: itemBucket, org: org, id: string(b)})
	}
	return items
}

var kindNames = map[redisstore.KeyKind]string{
	redisstore.KeyCheckpoint: "checkpoint", redisstore.KeyOrganization: "organization",
	redisstore.KeyInvitation: "invitation", redisstore.KeyBucket: "list", redisstore.KeyMember: "member",
	redisstore.KeyMembers: "members", redisstore.KeyToken: "token",
}

func keyName(k redisstore.Key) string {
	return strings.Trim(k.OrganizationID+"/"+k.ID, "/")
}

// compareWorkers read Redis concurrently: each comparison is a round trip.
const compareWorkers = 16

// compare reads each item from the replay and from Redis.
func (sc *storeCheck) compare(ctx context.Context, items []item) ([]difference, error) {
	sc.compared += len(items)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex
		diffs []difference
		next  = make(chan item)
		wg    sync.WaitGroup
	)
	for range compareWorkers {
		wg.Go(func() {
			for it := range next {
				want, err1 := it.read(ctx, sc.replay.mem)
				got, err2 := it.read(ctx, sc.redis)
				if err := errors.Join(err1, err2); err != nil {
					cancel(err)
					continue
				}
				if !reflect.DeepEqual(want, got) {
					mu.Lock()
					diffs = append(diffs, difference{item: it, text: describe(want, got)})
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	slices.SortFunc(diffs, func(a, b difference) int { return strings.Compare(a.item.String(), b.item.String()) })
	return diffs, nil
}

type difference struct {
	item item
	text string
}

// universe is the ids the stream's events name that Redis's keys do not
// tell: the organizations, the tokens ever issued, and the user ids of the
// members, whose keys hold a hash of them.
type universe struct {
	orgs    map[string]bool
	tokens  map[string]bool
	members map[[2]string]string // organization, user hash: user id
}

func newUniverse() universe {
	return universe{orgs: map[string]bool{}, tokens: map[string]bool{}, members: map[[2]string]string{}}
}

func (u universe) add(e domain.Event) {
	u.orgs[domain.StreamOf(e.Data).OrganizationID] = true
	switch d := e.Data.(type) {
	case domain.InvitationCreated:
		u.tokens[d.TokenSHA256] = true
	case domain.InvitationResent:
		u.tokens[d.TokenSHA256] = true
	case domain.MembershipAdded:
		u.members[[2]string{d.OrganizationID, domain.SHA256(d.UserID)}] = d.UserID
	}
}

type itemKind int

const (
	itemOrganization itemKind = iota
	itemInvitation
	itemToken
	itemMember
	itemBucket  // id is the bucket
	itemMembers // the list of members
)

// item is one thing a query can read: a record or a list.
type item struct {
	kind    itemKind
	org, id string
}

func (it item) String() string {
	switch it.kind {
	case itemOrganization:
		return "organization " + it.org
	case itemInvitation:
		return "invitation " + it.org + "/" + it.id
	case itemToken:
		return "token " + short(it.id)
	case itemMember:
		return "member " + it.org + "/" + it.id
	case itemBucket:
		return "list " + it.org + "/" + it.id
	}
	return "members of " + it.org
}

// read is what s answers for the item: a record (nil when not found), the
// organization/id of the invitation a token finds, or a whole list.
func (it item) read(ctx context.Context, s projections.Store) (any, error) {
	switch it.kind {
	case itemOrganization:
		return found(s.Organization(ctx, it.org))
	case itemInvitation:
		return found(s.Invitation(ctx, it.org, it.id))
	case itemToken:
		m, err := s.InvitationByToken(ctx, it.id)
		if !m.Found || err != nil {
			return nil, err
		}
		return m.Invitation.OrganizationID + "/" + m.Invitation.ID, nil
	case itemMember:
		return found(s.Member(ctx, it.org, it.id))
	case itemBucket:
		return list(func(cursor uint64) (projections.Scan[projections.Invitation], error) {
			return s.Invitations(ctx, it.org, projections.Bucket(it.id), cursor, projections.Newer, listPage)
		}, func(i projections.Invitation) (string, uint64) { return i.ID, i.Position })
	}
	return list(func(cursor uint64) (projections.Scan[projections.Member], error) {
		return s.Members(ctx, it.org, cursor, projections.Newer, listPage)
	}, func(m projections.Member) (string, uint64) { return m.UserID, m.Position })
}

func found[T any](v T, ok bool, err error) (any, error) {
	if !ok || err != nil {
		return nil, err
	}
	return v, nil
}

const listPage = 1000

// entry is a record of a list, named by its id and position.
type entry struct {
	name   string
	record any
}

// list reads a whole list, oldest first.
func list[T any](page func(cursor uint64) (projections.Scan[T], error), name func(T) (string, uint64)) ([]entry, error) {
	out := []entry{}
	var cursor uint64
	for {
		records, err := page(cursor)
		if err != nil {
			return nil, err
		}
		for _, r := range records.Items {
			id, pos := name(r)
			out = append(out, entry{name: id + "@" + strconv.FormatUint(pos, 10), record: r})
			cursor = pos
		}
		if len(records.Items) < listPage {
			return out, nil
		}
	}
}

// describe says how Redis's answer differs from the replay's.
func describe(want, got any) string {
	switch {
	case got == nil:
		return "missing from Redis"
	case want == nil:
		return "in Redis, but not in a replay of the stream"
	}
	w, ok := want.([]entry)
	if !ok {
		var fields []string
		fieldDiffs("", reflect.ValueOf(want), reflect.ValueOf(got), &fields)
		return strings.Join(fields, "; ")
	}
	g := got.([]entry)
	records := map[string]any{}
	for _, e := range w {
		records[e.name] = e.record
	}
	var extra, changed []string
	for _, e := range g {
		record, ok := records[e.name]
		if !ok {
			extra = append(extra, e.name)
			continue
		}
		delete(records, e.name)
		var fields []string
		fieldDiffs("", reflect.ValueOf(record), reflect.ValueOf(e.record), &fields)
		if len(fields) > 0 {
			changed = append(changed, e.name+": "+strings.Join(fields, ", "))
		}
	}
	var lacking []string
	for _, e := range w {
		if _, ok := records[e.name]; ok {
			lacking = append(lacking, e.name)
		}
	}
	var parts []string
	if len(extra) > 0 {
		parts = append(parts, "Redis has "+few(extra)+" too")
	}
	if len(lacking) > 0 {
		parts = append(parts, "Redis lacks "+few(lacking))
	}
	parts = append(parts, changed...)
	if len(parts) == 0 {
		return "the same records in another order"
	}
	return strings.Join(parts, "; ")
}

// few lists up to ten names.
func few(names []string) string {
	if len(names) > 10 {
		return strings.Join(names[:10], " ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, " ")
}

var timeType = reflect.TypeFor[time.Time]()

// fieldDiffs lists the fields, embedded structs flattened, where got is not
// want.
func fieldDiffs(name string, want, got reflect.Value, out *[]string) {
	if want.Kind() == reflect.Struct && want.Type() != timeType {
		for i := range want.NumField() {
			f := want.Type().Field(i)
			sub := f.Name
			if f.Anonymous {
				sub = name
			} else if name != "" {
				sub = name + "." + f.Name
			}
			fieldDiffs(sub, want.Field(i), got.Field(i), out)
		}
		return
	}
	if w, g := want.Interface(), got.Interface(); !reflect.DeepEqual(w, g) {
		if name == "" {
			*out = append(*out, fmt.Sprintf("%s in Redis, %s in the replay", show(g), show(w)))
			return
		}
		*out = append(*out, fmt.Sprintf("%s is %s in Redis, %s in the replay", name, show(g), show(w)))
	}
}

func show(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case string:
		return strconv.Quote(v)
	case domain.Role:
		return strconv.Quote(string(v))
	}
	return fmt.Sprint(v)
}

// replay projects the decoded messages into memory with the service's
// projector, on a goroutine of its own beside the checks.
type replay struct {
	mem       *projections.MemoryStore
	projector *projections.Projector
	at        uint64 // the last event projected, once finished
	// stuck says why the projector cannot apply the event after at, which
	// stops the service's read models there as well.
	stuck error

	batch []decoded
	queue chan []decoded
	done  chan error
}

func (p *replay) start(ctx context.Context) {
	p.queue, p.done = make(chan []decoded, 16), make(chan error, 1)
	go func() {
		var err error
		for b := range p.queue {
			if err != nil || p.stuck != nil {
				continue // drain the queue
			}
			events := make([]domain.Delivered, len(b))
			for i, d := range b {
				events[i] = domain.Delivered{Recorded: domain.Recorded{Event: d.event, Sequence: d.seq, Subject: d.subject}, Err: d.err}
			}
			applied, perr := p.projector.Project(ctx, events)
			p.at = max(p.at, applied)
			switch {
			case perr == nil:
			case errors.Is(perr, projections.ErrGap) || errors.Is(perr, projections.ErrVersionConflict):
				p.stuck = perr
			default:
				err = fmt.Errorf("replay: %w", perr)
			}
		}
		p.done <- err
	}()
}

func (p *replay) add(d decoded) {
	if p.batch = append(p.batch, d); len(p.batch) == decodeBatch {
		p.queue <- p.batch
		p.batch = nil
	}
}

func (p *replay) finish() error {
	if len(p.batch) > 0 {
		p.queue <- p.batch
		p.batch = nil
	}
	close(p.queue)
	return <-p.done
}
