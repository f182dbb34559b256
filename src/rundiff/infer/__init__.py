"""What a weights file proves about its training: format, base model, rank, alpha (header only)."""

from rundiff.infer.inspect import Conflict, LoraInfo, inspect_file

__all__ = ["Conflict", "LoraInfo", "inspect_file"]
