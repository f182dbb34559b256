"""Ingest: read the files a run left behind, one module per format, never executing anything.

Each module turns its format into `Fact`s in that format's own vocabulary (sd-scripts argument
names, GUI keys, dotted YAML keys, ss_* metadata keys); `run_folder` finds and dispatches the files
of a run. Mapping to canonical names and deciding values is normalise's job, not ingest's.
"""
