// Command sshbench measures the SSH transport against OpenSSH-based
// peers on real sshd hosts it starts on loopback (127.21.0.0/16, port
// 22000) and stops when done:
//
//   - one `true` on 200 hosts: parallel-ssh and ansible -m raw versus an
//     ssh.Pool with new connections and with pooled ones, plus the memory
//     each idle pooled connection costs;
//   - 100 sequential commands to one host: OpenSSH ControlMaster versus
//     sessions on one pooled connection;
//   - a 1 GiB upload to 2 hosts in parallel: scp and rsync versus
//     transport.Upload (SHA-256 on both ends), every copy verified.
//
// Every tool uses the curve25519-sha256 key exchange. Run it as root with
// `go run ./bench/sshbench` or bench/run.sh; -h lists the knobs. It
// prints Markdown.
package main
