"""Migration: rewriting a containerd config to a newer version, converting between the two
formats, and the report of what moved."""
