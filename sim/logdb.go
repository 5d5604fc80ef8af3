package sim

import "fmt"

// RaftLog is the state of one front-end's logdb as
// onedb.DB.RaftLog reads it.
type RaftLog struct {
	LastIndex, LastApplied int64
	// Unapplied counts the records with applied = 0; First and Last are
	// their lowest and highest log_index.
	Unapplied   int
	First, Last int64
}

// RaftLog returns the state of node's logdb.
func (c *Cloud) RaftLog(node string) (RaftLog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.st.Nodes[node]
	if n == nil {
		return RaftLog{}, fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	if n.DB == nil {
		return RaftLog{}, fmt.Errorf("sim: %s has no database", node)
	}
	d := n.DB
	l := RaftLog{LastIndex: d.LogIndex, LastApplied: d.LogIndex, Unapplied: len(d.Unapplied)}
	if len(d.Unapplied) > 0 {
		l.First, l.Last = d.Unapplied[0].Index, d.Unapplied[len(d.Unapplied)-1].Index
		l.LastApplied = l.First - 1
	}
	return l, nil
}
