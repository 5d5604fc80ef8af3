#!/bin/sh
# Runs the SSH transport benchmarks and peer comparisons (needs root,
# sshd, parallel-ssh, scp, rsync; ansible optional). The sshd hosts are
# started and stopped by the benchmark itself. Extra flags go to sshbench,
# e.g. bench/run.sh -quickack or bench/run.sh -only seq.
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/sshbench "$@"
