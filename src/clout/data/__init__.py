"""Data stage: the contract, validation, loaders for real datasets and the simulator."""
