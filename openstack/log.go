package openstack

import "go.uber.org/zap"

func zapStr(k, v string) zap.Field { return zap.String(k, v) }
func zapErr(err error) zap.Field   { return zap.Error(err) }
