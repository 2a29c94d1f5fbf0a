"""Fakes for the seams of the CRI services (`bin/` holds fake executables)."""
