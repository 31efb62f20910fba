"""The sweep engine: suite specs, checkpoint loading, resumable parts, merge, run metadata."""
