"""Docker's /etc/docker/daemon.json: read with positions, linted, migrated to a CRI runtime."""
