"""A STAND-IN for kohya-ss sd-scripts' sdxl_train_network.py (see train_network.py here): SDXL key names."""

from __future__ import annotations

import sys

from train_network import main

if __name__ == "__main__":
    sys.exit(main(arch="sdxl", script="sdxl_train_network.py"))
