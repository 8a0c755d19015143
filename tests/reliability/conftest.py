"""The reliability suite uses the shared fixtures of tests/support/fixtures.py (one control plane per
session, a fresh namespace, the simulator and the operator as processes). Modules that stop or
restart kube-apiserver or etcd override `control_plane` with a module-scoped one of their own, so
other tests never see the outage."""
