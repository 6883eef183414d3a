"""python -m raftctl: the same as the `raftctl` console script."""

from raftctl.cli import main

main()
