// Package hypervisors upgrades the hypervisor hosts of an OpenNebula zone
// (the single front-end upgrade guide steps 12–13): on each host the repository is switched, the
// node package (opennebula-node-kvm or -lxc) upgraded and, for KVM,
// libvirtd restarted; then `onehost sync` runs for that host as oneadmin on
// a front-end (after the node package, as the newest guide says) and the
// host goes back to the state it had before the upgrade (enabled again if
// it was enabled). Hosts run in parallel with a concurrency limit, a
// canary (the first host alone) and a failure budget, through the
// engine's PerHost.
//
// Node returns that fan-out for a larger plan (upgrade/ha uses it); Plan
// is a complete plan for upgrading only the hypervisors.
package hypervisors
