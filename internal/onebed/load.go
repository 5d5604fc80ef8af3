package onebed

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Outcome is what a client can know about one write.
type Outcome int

const (
	// Acked: oned answered success; the write must be present exactly once.
	Acked Outcome = iota
	// Failed: refused before anything was logged; it must be absent.
	Failed
	// Indeterminate: no answer, or an error after the request may have
	// reached the Raft log; it may be present at most once.
	Indeterminate
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acknowledged"
	case Failed:
		return "failed"
	}
	return "indeterminate"
}

// Write is one write of the load generator.
type Write struct {
	Seq        int
	Name       string
	Server     string // endpoint the call was sent to
	Start, End time.Time
	Outcome    Outcome
	ID         int64 // document ID when acknowledged
	Err        string
}

// LoadConfig configures a load generator.
type LoadConfig struct {
	// Endpoints are the zone's XML-RPC endpoints; Session is "user:password".
	Endpoints []string
	Session   string
	// Interval is the pause between writes; 0 means 100ms.
	Interval time.Duration
	// CallTimeout bounds each call; past it the write is indeterminate.
	// 0 means 10s.
	CallTimeout time.Duration
	// DocType is the document type of the writes; 0 means 100.
	DocType int
	// Prefix starts every document's name; "" means "load-".
	Prefix string
}

// Load writes documents (one.document.allocate) to a zone until stopped,
// sending each to the server that last answered and moving to the next
// one after an error (followers forward writes to the leader), and
// records every write's outcome.
type Load struct {
	cfg    LoadConfig
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	writes []Write
}

// StartLoad starts writing. Stop ends it and returns the writes.
func StartLoad(ctx context.Context, cfg LoadConfig) *Load {
	if cfg.Interval == 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.DocType == 0 {
		cfg.DocType = 100
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "load-"
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cfg: cfg, cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// Stop stops the generator, waits for the write in flight and returns
// every write in order.
func (l *Load) Stop() []Write {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Write(nil), l.writes...)
}

func (l *Load) run(ctx context.Context) {
	defer close(l.done)
	cur := 0
	for seq := 0; ; seq++ {
		if ctx.Err() != nil {
			return
		}
		ep := l.cfg.Endpoints[cur%len(l.cfg.Endpoints)]
		w := Write{Seq: seq, Name: fmt.Sprintf("%s%06d", l.cfg.Prefix, seq), Server: ep, Start: time.Now()}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.CallTimeout)
		c := &Client{Endpoint: ep, Session: l.cfg.Session}
		v, err := c.Call(cctx, "one.document.allocate", fmt.Sprintf("NAME=%q", w.Name), l.cfg.DocType)
		cancel()
		w.End = time.Now()
		w.Outcome = Classify(err)
		if err == nil {
			id, ok := v.(int64)
			if !ok {
				w.Outcome, err = Indeterminate, fmt.Errorf("%w: id is %T", ErrMalformed, v)
			}
			w.ID = id
		}
		if err != nil {
			w.Err = err.Error()
			cur++
		}
		l.mu.Lock()
		l.writes = append(l.writes, w)
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.cfg.Interval):
		}
	}
}

// refusals are the answers oned gives before a request reaches the Raft
// log (src/rm/xml-rpc/RequestXRPC.cc, release-7.4.0): nothing can be
// applied later. Any other error may follow a log append (e.g. "Cannot
// replicate log record on followers" in src/sql/LogDB.cc, whose record a
// later leader may still commit, or a forward to the leader that timed
// out), so it is indeterminate.
//
// A follower forwarding to a leader it cannot reach answers with the
// error of its XML-RPC client (xmlrpc-c's curl transport wrapping
// libcurl's message, seen on the bed right after a leader was killed):
// "Couldn't connect to server" means nothing was sent, so it is a
// refusal too; other transport errors of the forward ("Empty reply from
// server") are not.
var refusals = []string{
	"Cannot process request, no leader found",
	"Cannot process request, oned cluster in election mode",
	"Cannot process request, oned cluster is replicating log",
	"Cannot process request, zone disabled",
	"Couldn't connect to server",
}

// Classify returns the outcome of a write call that returned err.
func Classify(err error) Outcome {
	if err == nil {
		return Acked
	}
	var ae *APIError
	if errors.As(err, &ae) {
		for _, r := range refusals {
			if strings.Contains(ae.Message, r) {
				return Failed
			}
		}
		return Indeterminate
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return Failed // nothing was sent
	}
	return Indeterminate
}

// Verdict is the check of a load run against what each server holds.
type Verdict struct {
	Acked, Failed, Indeterminate int
	// Problems lists every violation; empty means "nothing acknowledged
	// lost, nothing failed applied".
	Problems []string
	// WritesDown is the longest time without an acknowledged write
	// (between the starts of two successive acknowledged writes).
	WritesDown time.Duration
}

// OK reports whether no problem was found.
func (v Verdict) OK() bool { return len(v.Problems) == 0 }

// Check compares writes with the documents each server holds (name to
// the IDs found under that name): every acknowledged write present
// exactly once with its ID, every failed write absent, every
// indeterminate one present at most once, and every server holding the
// same load documents.
func Check(writes []Write, held map[string]map[string][]int64, prefix string) Verdict {
	var v Verdict
	var lastAck time.Time
	for i, w := range writes {
		switch w.Outcome {
		case Acked:
			v.Acked++
			if i > 0 {
				gap := w.Start.Sub(writes[0].Start)
				if !lastAck.IsZero() {
					gap = w.Start.Sub(lastAck)
				}
				v.WritesDown = max(v.WritesDown, gap)
			}
			lastAck = w.Start
		case Failed:
			v.Failed++
		default:
			v.Indeterminate++
		}
		for srv, docs := range held {
			ids := docs[w.Name]
			switch {
			case w.Outcome == Acked && (len(ids) != 1 || ids[0] != w.ID):
				v.Problems = append(v.Problems, fmt.Sprintf("%s: acknowledged %s (id %d) held as %v", srv, w.Name, w.ID, ids))
			case w.Outcome == Failed && len(ids) != 0:
				v.Problems = append(v.Problems, fmt.Sprintf("%s: failed %s (%s) applied as %v", srv, w.Name, w.Err, ids))
			case w.Outcome == Indeterminate && len(ids) > 1:
				v.Problems = append(v.Problems, fmt.Sprintf("%s: indeterminate %s applied %d times", srv, w.Name, len(ids)))
			}
		}
	}
	if len(writes) > 0 && !lastAck.IsZero() {
		v.WritesDown = max(v.WritesDown, writes[len(writes)-1].End.Sub(lastAck))
	}
	var ref string
	var refSet map[string]string
	for srv, docs := range held {
		set := map[string]string{}
		for name, ids := range docs {
			if strings.HasPrefix(name, prefix) {
				set[name] = fmt.Sprint(ids)
			}
		}
		if refSet == nil {
			ref, refSet = srv, set
			continue
		}
		if fmt.Sprint(set) != fmt.Sprint(refSet) {
			v.Problems = append(v.Problems, fmt.Sprintf("%s and %s hold different load documents (%d vs %d)", srv, ref, len(set), len(refSet)))
		}
	}
	return v
}

// Documents lists the documents of type docType a server holds (its own
// database: followers answer pool reads locally), as name to IDs.
func Documents(ctx context.Context, c *Client, docType int) (map[string][]int64, error) {
	v, err := c.Call(ctx, "one.documentpool.info", -2, -1, -1, docType)
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("one.documentpool.info: %w: answer is %T", ErrMalformed, v)
	}
	return ParseDocuments(s)
}

// ParseDocuments parses a DOCUMENT_POOL as name to IDs.
func ParseDocuments(s string) (map[string][]int64, error) {
	var pool struct {
		Docs []struct {
			ID   int64  `xml:"ID"`
			Name string `xml:"NAME"`
		} `xml:"DOCUMENT"`
	}
	if err := xml.Unmarshal([]byte(s), &pool); err != nil {
		return nil, fmt.Errorf("one.documentpool.info: %w: %v", ErrMalformed, err)
	}
	out := map[string][]int64{}
	for _, d := range pool.Docs {
		out[d.Name] = append(out[d.Name], d.ID)
	}
	return out, nil
}
