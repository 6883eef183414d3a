"""One module per group of commands; each registers its commands on the
app of raftctl.app when imported. raftctl.cli imports the one a command line
names (COMMAND_MODULES), or all of them for help."""
