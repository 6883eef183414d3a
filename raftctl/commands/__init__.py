"""One module per group of commands; each registers its commands on the
app of raftctl.app when imported (raftctl.cli imports them all)."""
