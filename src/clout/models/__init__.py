"""Models: LightGBM heads per engagement kind, their metrics and their calibration."""
