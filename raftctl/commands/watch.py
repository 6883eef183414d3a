"""watch: every change to a key (or to the keys under a prefix), as it happens.

The store numbers its changes by revision and keeps the latest ones
(node.changes, etcd's MVCC in miniature). The watch asks for the changes after
the last revision it printed, by linearizable reads, so it misses none and
shows none twice, across leader changes too; a revision the store no longer
keeps is said, never skipped in silence.
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
        if not prefix:
            check_key(key)
        if from_revision is not None and from_revision < 1:
            raise UsageError(f"--from-revision takes a revision from 1, not {from_revision}")
        if count is not None and count < 1:
            raise UsageError(f"--count takes at least 1, not {count}")
        if prefix and control.cluster.config.shards > 1:
            # Each shard numbers its own changes: one prefix's changes have no
            # single order of revisions to resume from.
            raise UsageError(
                "watch --prefix needs one revision order, and each shard of this "
                "cluster numbers its own changes: watch single keys instead"
            )

        def ask(after: int) -> dict[str, Any]:
            answer = control.client.call(Changes(key, prefix, after), timeout_s=control.timeout_s)
            if not answer["ok"]:
                raise Compacted(answer["error"])
            return answer

        # Asking after the largest revision there can be is asking for the current one.
        after = from_revision - 1 if from_revision is not None else ask(WIRE_INT_MAX)["revision"]
        seen = 0
        try:
            while count is None or seen < count:
                answer = ask(after)
                changes = answer["changes"]
                if count is not None:
                    changes = changes[: count - seen]
                for revision, changed, value in changes:
                    kind = "put" if value is not None else "delete"
                    event = {"revision": revision, "type": kind, "key": changed, "value": value}
                    words = f"{revision} {kind.upper()} {shown(changed)}"
                    output.line(
                        with_encoding(event),
                        words + (f" {shown(value)}" if value is not None else ""),
                    )
                    after, seen = revision, seen + 1
                if not answer["changes"]:
                    time.sleep(POLL_S)
        except KeyboardInterrupt:
            return  # the way a watch ends
