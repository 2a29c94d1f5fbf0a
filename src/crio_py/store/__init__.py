"""Persistent state: the content store (OCI blobs) and the image records."""
