"""Write a run's source and target domains as PNG folders, then train from them.

    python scripts/export_folder.py outputs/folders/mnistm                 # the seed task, 64 px
    python scripts/export_folder.py /tmp/noisy debug=synthetic target=noisy --limit 500

Any adda-train overrides pick the domains; ``--limit`` writes only the first N images of each split.
It ends by printing the adda-train command that trains from the folders it wrote.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from adda.data.export import export_domains, folder_overrides
from adda.errors import AddaError
from adda.train import compose


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder to write <domain>/<split>/<class>/<n>.png into")
    p.add_argument(
        "overrides", nargs="*", help="adda-train overrides (source=..., target=..., data.image_size=...)"
    )
    p.add_argument("--limit", type=int, default=None, help="at most this many images per split")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        counts = export_domains(compose(args.overrides), args.out, args.limit)
    except AddaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    print("train from them: adda-train " + " ".join(shlex.quote(o) for o in folder_overrides(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
