"""Cross-format `config migrate`: a CRI-O configuration ⇄ a containerd config.toml.

This module owns the mapping of ../shared/reference/crossmap.md: which CRI-O key becomes which
containerd key and back (the rows marked = or ≈), how values are transformed on the way, which
implicit values are written out because the two daemons' defaults differ, and why each other
key the input sets is not carried. Reading, merging and validating the input is left to the
lint entry points; same-format migrations live elsewhere.

Both directions work the same way: a `ConvertContext` holds the merged input data, every mapping
step writes into an `OutTree` tree and records a Change, and whatever key the input set that no
step used gets a "not-carried" Change with the reason from the cross-map.
"""

from crio_py.config.migrate.convert.to_containerd import crio_to_containerd
from crio_py.config.migrate.convert.to_crio import containerd_to_crio

__all__ = ["containerd_to_crio", "crio_to_containerd"]
