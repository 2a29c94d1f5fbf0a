"""Lint: static rules and semantic checks over parsed configurations of either format, where a
setting was written, and the text / JSON / SARIF rendering of the findings."""
