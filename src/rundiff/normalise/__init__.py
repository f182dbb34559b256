"""Normalise: one cell per canonical parameter, with its provenance.

The registry (registry.yaml, kept as data) maps every source vocabulary to sd-scripts' argument
names; `values` coerces types; `merge` applies one rule set to a run's sources (precedence inside a
launch, conflicts across independent evidence, trainer defaults); `derived` and `steps` compute the
rows people work out by hand.
"""
