package openstack

import (
	"bytes"
	"context"
	"strconv"
	"strings"

	"io/fs"

	"github.com/upgradekit/upgradekit/openstack/osloconf"
	"github.com/upgradekit/upgradekit/transport"
)

// EditConfig reads an oslo INI file from the node, lets edit change it,
// and writes it back only when edit reports a change, keeping its mode,
// owner and group and every untouched line byte for byte. It reports
// whether the file changed.
func EditConfig(ctx context.Context, t transport.Transport, file string, edit func(*osloconf.File) (bool, error), opts ...Option) (bool, error) {
	o, err := newOptions(opts)
	if err != nil {
		return false, err
	}
	out, err := transport.Output(ctx, t, o.probe(transport.Cmd("stat", "-c", "%a %U %G", "--", file)))
	if err != nil {
		return false, wrapOp("edit "+file, err)
	}
	mode, owner, group, err := parseStat(out)
	if err != nil {
		return false, wrapOp("edit "+file, err)
	}
	var buf bytes.Buffer
	if _, err := transport.Download(ctx, t, file, &buf, transport.FileOptions{Sudo: o.sudo}); err != nil {
		return false, wrapOp("edit "+file, err)
	}
	f, err := osloconf.Parse(buf.Bytes())
	if err != nil {
		return false, wrapOp("edit "+file, err)
	}
	changed, err := edit(f)
	if err != nil || !changed {
		return false, err
	}
	_, err = transport.Upload(ctx, t, file, bytes.NewReader(f.Bytes()), transport.FileOptions{Mode: mode, Owner: owner, Group: group, Sudo: o.sudo})
	if err != nil {
		return false, wrapOp("edit "+file, err)
	}
	o.log.Info("config edited", zapStr("file", file))
	return true, nil
}

func parseStat(out []byte) (mode fs.FileMode, owner, group string, err error) {
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return 0, "", "", parseErr("stat output", "want mode owner group", out)
	}
	m, perr := strconv.ParseUint(f[0], 8, 32)
	if perr != nil || m > 0o7777 {
		return 0, "", "", parseErr("stat output", "bad mode", out)
	}
	return fs.FileMode(m), f[1], f[2], nil
}

// SetOption sets section.key = value in an oslo INI file on the node
// (e.g. [upgrade_levels] compute = auto during a rolling compute
// upgrade). It reports whether the file changed.
func SetOption(ctx context.Context, t transport.Transport, file, section, key, value string, opts ...Option) (bool, error) {
	return EditConfig(ctx, t, file, func(f *osloconf.File) (bool, error) {
		return f.Set(section, key, value)
	}, opts...)
}

// UnsetOption removes section.key from an oslo INI file on the node (the
// compute pin after every compute runs the new release). It reports
// whether the file changed.
func UnsetOption(ctx context.Context, t transport.Transport, file, section, key string, opts ...Option) (bool, error) {
	return EditConfig(ctx, t, file, func(f *osloconf.File) (bool, error) {
		return f.Unset(section, key), nil
	}, opts...)
}

// GetOption reads section.key from an oslo INI file on the node: its
// value, and whether it is set (the last setting wins, as in
// oslo.config).
func GetOption(ctx context.Context, t transport.Transport, file, section, key string, opts ...Option) (string, bool, error) {
	o, err := newOptions(opts)
	if err != nil {
		return "", false, err
	}
	f, err := readConfig(ctx, t, o, file)
	if err != nil {
		return "", false, wrapOp("read "+file, err)
	}
	v, ok := f.Get(section, key)
	return v, ok, nil
}
