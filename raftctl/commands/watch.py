"""watch: every change to a key (or to the keys under a prefix), as it happens.

The store numbers its changes by revision and keeps the latest ones
(node.changes, etcd's MVCC in miniature). The watch asks for the changes after
the last revision it printed, by linearizable reads, so it misses none and
shows none twice, across leader changes too; a revision the store no longer
keeps is said, never skipped in silence.

On a sharded cluster a key is watched on its shard. A prefix is watched on
every shard at once, each from its own revision: a shard numbers its own
changes, so the events carry their `shard` and are in revision order within
it, not across shards; --from-revision starts every shard there.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from node.messages import Changes
from node.messages.codec import WIRE_INT_MAX
from raftctl.app import DirOption, JsonOption, TimeoutOption, app, session
from raftctl.errors import Compacted, UsageError
from raftctl.values import check_key, shown, with_encoding

# Between two questions when nothing changed: a change shows within this.
POLL_S = 0.1


@app.command()
def watch(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key (with --prefix: the prefix).")],
    prefix: Annotated[
        bool, typer.Option("--prefix", help="Every key starting with KEY ('' for all).")
    ] = False,
    from_revision: Annotated[
        int | None,
        typer.Option(
            "--from-revision",
            help="Start with the changes at this revision (default: the next change).",
        ),
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many changes (default: Ctrl-C).")
    ] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Print every change to KEY as it happens: its revision, PUT or DELETE,
    the key and the value; JSON Lines with --json. Ctrl-C (or --count) ends it;
    --timeout bounds each question to the cluster, not the watch.

    Example: raftctl watch user/ --prefix --from-revision 1
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.require_log("watch", "it reads a log's history of changes, and gossip has none")
        if not prefix:
            check_key(key)
        if from_revision is not None and from_revision < 1:
            raise UsageError(f"--from-revision takes a revision from 1, not {from_revision}")
        if count is not None and count < 1:
            raise UsageError(f"--count takes at least 1, not {count}")
        config = control.cluster.config
        # The shards to ask: the key's own, or every one for a prefix.
        shards = list(range(1, config.shards + 1)) if prefix else [config.shard_of_key(key)]
        sharded = config.shards > 1

        def ask(shard: int, after: int) -> dict[str, Any]:
            answer = control.client.call(
                Changes(key, prefix, after), timeout_s=control.timeout_s, shard=shard
            )
            if not answer["ok"]:
                raise Compacted(answer["error"])
            return answer

        # Asking after the largest revision there can be is asking for the current one.
        after = {
            shard: from_revision - 1
            if from_revision is not None
            else ask(shard, WIRE_INT_MAX)["revision"]
            for shard in shards
        }
        seen = 0
        try:
            while count is None or seen < count:
                quiet = True
                for shard in shards:
                    answer = ask(shard, after[shard])
                    changes = answer["changes"]
                    quiet = quiet and not changes
                    if count is not None:
                        changes = changes[: count - seen]
                    for revision, changed, value in changes:
                        kind = "put" if value is not None else "delete"
                        event = {"revision": revision, "type": kind, "key": changed, "value": value}
                        if sharded:
                            event["shard"] = shard
                        words = f"{revision} {kind.upper()} {shown(changed)}"
                        output.line(
                            with_encoding(event),
                            (f"s{shard} " if sharded and prefix else "")
                            + words
                            + (f" {shown(value)}" if value is not None else ""),
                        )
                        after[shard], seen = revision, seen + 1
                if quiet:
                    time.sleep(POLL_S)
        except KeyboardInterrupt:
            return  # the way a watch ends
