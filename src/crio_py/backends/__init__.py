"""Thin typed wrappers around the external tools (OCI runtimes, conmon, CNI, skopeo)."""
