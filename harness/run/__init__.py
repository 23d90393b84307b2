"""One run, end to end: its inputs, data, untrained reference, latents, probes and the classical baseline, each a room, and `execute`, which conducts them and returns the record."""
