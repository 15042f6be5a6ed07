"""Features stage: point-in-time features and labels per (account, cutoff), from the catalogue."""
