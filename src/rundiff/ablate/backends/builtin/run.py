"""Child process of the builtin backend: `python -m rundiff.ablate.backends.builtin.run config.toml`.

Trains one variant into the current folder and prints one JSON progress line per update.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from rundiff.errors import RundiffError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rundiff.ablate.backends.builtin.run")
    parser.add_argument("config")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    from rundiff.ablate.backends.builtin import train
    from rundiff.ablate.backends.builtin.config import TrainConfig

    try:
        params = tomllib.loads(Path(args.config).read_text(encoding="utf-8"))
        for key in ("output_dir", "logging_dir"):
            params.pop(key, None)
        config = TrainConfig.from_params(params, source=args.config)

        def progress(p) -> None:
            print(json.dumps({"step": p.step, "total": p.total_steps, "loss": round(p.loss, 6)}), flush=True)

        result = train(config, Path("."), device=args.device, progress=progress)
    except RundiffError as err:
        print(f"rundiff: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"done": True, "final_loss": result.final_loss, "steps_per_second": result.steps_per_second}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
