"""python -m node: run one node of a cluster (see node.server)."""

import sys

from node.server import main

sys.exit(main())
