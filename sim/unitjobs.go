package sim

import (
	"fmt"
	"slices"
	"time"
)

// unitAfter lists the After= ordering between the units the simulator
// knows, from OpenNebula's unit files (share/pkgs/services/systemd/*.service
// in OpenNebula/one, release-7.4.0; opennebula-scheduler and -sunstone
// from release-6.10.0): opennebula.service is After=mariadb.service and
// opennebula-ssh-agent.service; hem, flow, gate, fireedge, form, ks,
// scheduler and sunstone are After=opennebula.service; guacd, novnc, the
// timers and ssh-agent have no order with the others.
var unitAfter = map[string][]string{
	"opennebula":           {"mariadb", "opennebula-ssh-agent"},
	"opennebula-hem":       {"opennebula"},
	"opennebula-flow":      {"opennebula"},
	"opennebula-gate":      {"opennebula"},
	"opennebula-fireedge":  {"opennebula"},
	"opennebula-form":      {"opennebula"},
	"opennebula-ks":        {"opennebula"},
	"opennebula-scheduler": {"opennebula"},
	"opennebula-sunstone":  {"opennebula"},
}

// unitJob is one job of a `systemctl start` or `stop` transaction.
type unitJob struct {
	unit    string
	waits   []int         // jobs this one is ordered after
	started bool          // running or done
	done    bool          //
	end     time.Duration // when the running job's next step is due, from the command's start
	next    jobStep       // what happens then (nil: the job is done)
}

// jobStep is what a job does once its time has passed: how much longer
// it runs, and what it does then.
type jobStep func() (time.Duration, jobStep)

// unitJobs runs `systemctl start` (stop false) or `systemctl stop` of
// units the way systemd does: one job per unit (start: plus the units
// they Want=), all enqueued at once and run concurrently, a job waiting
// only for the jobs it is ordered after (After=; stop in the reverse
// order), and systemctl returning when every job is done
// (src/systemctl/systemctl-start-unit.c in systemd/systemd: verb_start
// enqueues a job per unit, then bus_wait_for_jobs; systemd.unit(5),
// Before=/After=: "the inverse of the start-up order is applied" on
// stop). The command costs the longest chain of ordered jobs, not the
// sum. It returns the failure messages, in the order of units.
func (p *proc) unitJobs(units []string, stop bool) []string {
	var msgs []string
	var jobs []*unitJob
	index := map[string]int{}
	add := func(u string) {
		if _, ok := index[u]; ok {
			return
		}
		index[u] = len(jobs)
		jobs = append(jobs, &unitJob{unit: u})
	}
	for _, u := range units {
		if p.n.Units[u] == nil {
			_, full := unitName(u)
			if stop {
				msgs = append(msgs, fmt.Sprintf("Failed to stop %s: Unit %s not loaded.", full, full))
			} else {
				msgs = append(msgs, fmt.Sprintf("Failed to start %s: Unit %s not found.", full, full))
			}
			continue
		}
		add(u)
	}
	if !stop {
		// Wants= pulls the wanted units into the transaction.
		for i := 0; i < len(jobs); i++ {
			for _, w := range unitWants[jobs[i].unit] {
				if p.n.Units[w] != nil {
					add(w)
				}
			}
		}
	}
	for _, j := range jobs {
		for k, o := range jobs {
			if stop && slices.Contains(unitAfter[o.unit], j.unit) || !stop && slices.Contains(unitAfter[j.unit], o.unit) {
				j.waits = append(j.waits, k)
			}
		}
	}
	var elapsed time.Duration
	for {
		// Start every job whose predecessors are done.
		for _, j := range jobs {
			if j.started || slices.ContainsFunc(j.waits, func(k int) bool { return !jobs[k].done }) {
				continue
			}
			j.started = true
			var cost time.Duration
			if stop {
				cost, j.next = p.stopJob(j.unit)
			} else {
				var msg string
				cost, j.next, msg = p.startJob(j.unit)
				if msg != "" {
					msgs = append(msgs, msg)
				}
			}
			j.end = elapsed + cost
		}
		next := -1
		for k, j := range jobs {
			if j.started && !j.done && (next < 0 || j.end < jobs[next].end) {
				next = k
			}
		}
		if next < 0 {
			break
		}
		j := jobs[next]
		if j.end > elapsed {
			p.spend(j.end - elapsed)
			elapsed = j.end
		}
		if j.next == nil {
			j.done = true
			continue
		}
		var more time.Duration
		more, j.next = j.next()
		j.end += more
	}
	return msgs
}

// startJob begins the start job of unit: its cost, what happens when
// that time has passed, and a failure message.
func (p *proc) startJob(name string) (time.Duration, jobStep, string) {
	u := p.n.Units[name]
	if u.Active {
		return 0, nil, ""
	}
	if f, ok := authAsserts[name]; ok {
		if b, err := p.n.FS.ReadFile("/var/lib/one/.one/" + f); err != nil || len(b) == 0 {
			p.setUnit(name, false, true)
			return 0, nil, fmt.Sprintf("Assertion failed on job for %s.service.", name)
		}
	}
	if name != "opennebula" {
		return time.Second, func() (time.Duration, jobStep) { p.setUnit(name, true, false); return 0, nil }, ""
	}
	return 3 * time.Second, func() (time.Duration, jobStep) {
		if !p.c.startOned(p.n) {
			// Type=simple: the start job succeeds, then oned exits.
			p.setUnit(name, true, false)
			return time.Second, func() (time.Duration, jobStep) {
				p.setUnit(name, false, true)
				p.c.tick(p.now())
				return 0, nil
			}
		}
		p.setUnit(name, true, false)
		p.c.tick(p.now())
		return 0, nil
	}, ""
}

// stopJob begins the stop job of unit: its cost and what happens when
// that time has passed.
func (p *proc) stopJob(name string) (time.Duration, jobStep) {
	u := p.n.Units[name]
	if !u.Active {
		u.Failed = false
		return 0, nil
	}
	if name == "opennebula" {
		return 4 * time.Second, func() (time.Duration, jobStep) {
			p.setUnit(name, false, false)
			p.c.stopOned(p.n)
			p.c.tick(p.now())
			return 0, nil
		}
	}
	return time.Second, func() (time.Duration, jobStep) {
		p.setUnit(name, false, false)
		if name == "mariadb" && p.n.onedUp() {
			// oned stops after ERRORS_LIMIT consecutive DB errors
			p.setUnit("opennebula", false, true)
			p.c.stopOned(p.n)
		}
		return 0, nil
	}
}
