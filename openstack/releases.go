package openstack

import (
	"fmt"
	"strings"
)

// Series is an OpenStack release series.
type Series struct {
	// Name is the numbered name ("2023.1"); Zed, the last release before
	// the numbering, is "2022.2".
	Name string
	// Code is the code name in lower case ("antelope").
	Code string
	// SLURP marks a Skip Level Upgrade Release Process release: from
	// one, an upgrade may go straight to the next SLURP release, skipping
	// the release in between (every other upgrade goes one release at a
	// time). 2023.1 was the first.
	SLURP bool
}

func (s Series) String() string { return s.Name + " (" + s.Code + ")" }

// series lists the releases in order (releases.openstack.org).
var series = [...]Series{
	{Name: "2022.2", Code: "zed"},
	{Name: "2023.1", Code: "antelope", SLURP: true},
	{Name: "2023.2", Code: "bobcat"},
	{Name: "2024.1", Code: "caracal", SLURP: true},
	{Name: "2024.2", Code: "dalmatian"},
	{Name: "2025.1", Code: "epoxy", SLURP: true},
	{Name: "2025.2", Code: "flamingo"},
	{Name: "2026.1", Code: "gazpacho", SLURP: true},
}

// ParseSeries reads a series by number ("2024.1") or code name
// ("caracal", any case).
func ParseSeries(s string) (Series, error) {
	_, ser, err := seriesIndex(s)
	return ser, err
}

func seriesIndex(s string) (int, Series, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	for i, x := range series {
		if k == x.Name || k == x.Code {
			return i, x, nil
		}
	}
	return 0, Series{}, fmt.Errorf("openstack: unknown release series %q (known: 2022.2 zed to 2026.1 gazpacho)", s)
}

// SeriesOf returns the series of a service's installed package version:
// each of keystone, glance, placement, nova, neutron, cinder and heat
// raises its upstream major version by one per series from its Zed
// major (Service.ZedMajor).
func SeriesOf(svc Service, version string) (Series, error) {
	if svc.ZedMajor == 0 {
		return Series{}, fmt.Errorf("openstack: %s: no release numbering known", svc.Name)
	}
	major, err := UpstreamMajor(version)
	if err != nil {
		return Series{}, err
	}
	i := major - svc.ZedMajor
	if i < 0 || i >= len(series) {
		return Series{}, fmt.Errorf("openstack: %s %s: major %d is outside 2022.2-2026.1", svc.Name, version, major)
	}
	return series[i], nil
}

// UpgradePathError refuses an upgrade that skips a release it may not
// skip. It matches ErrUpgradePath.
type UpgradePathError struct {
	From, To Series
	// Via is the sequence of releases to upgrade to, in order, ending
	// with To.
	Via []Series
}

func (e *UpgradePathError) Error() string {
	via := make([]string, len(e.Via))
	for i, s := range e.Via {
		via[i] = s.Name
	}
	return fmt.Sprintf("upgrade %s → %s refused: only a SLURP release may skip one release (to the next SLURP release); upgrade through %s",
		e.From, e.To, strings.Join(via, ", then "))
}

// Is makes errors.Is(err, ErrUpgradePath) true.
func (e *UpgradePathError) Is(target error) bool { return target == ErrUpgradePath }

// UpgradePath returns the releases an upgrade from one series to a later
// one goes through, in order, ending with to: one release at a time,
// except from a SLURP release straight to the next SLURP release.
func UpgradePath(from, to string) ([]Series, error) {
	i, f, err := seriesIndex(from)
	if err != nil {
		return nil, err
	}
	j, t, err := seriesIndex(to)
	if err != nil {
		return nil, err
	}
	if j <= i {
		return nil, fmt.Errorf("openstack: upgrade %s → %s: the target is not a later release", f, t)
	}
	var path []Series
	for i < j {
		if series[i].SLURP && i+2 <= j && series[i+2].SLURP {
			i += 2
		} else {
			i++
		}
		path = append(path, series[i])
	}
	return path, nil
}

// CheckUpgrade refuses (*UpgradePathError) an upgrade from one series
// straight to another that the SLURP rules do not allow.
func CheckUpgrade(from, to string) error {
	path, err := UpgradePath(from, to)
	if err != nil {
		return err
	}
	if len(path) > 1 {
		f, _ := ParseSeries(from)
		return &UpgradePathError{From: f, To: path[len(path)-1], Via: path}
	}
	return nil
}
