"""What the tests and the benchmarks share: the simulated estate with a daemon
(``harness``), git work clones, client traffic, control planes on etcd (``ha``).

Neither ``tests`` nor ``bench`` is imported from here (import-linter checks it)."""
