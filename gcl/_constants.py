"""Constants shared by light modules (the command line imports this without torch)."""

#: the largest seed torch and NumPy accept (``torch.manual_seed`` takes a signed 64-bit value)
MAX_SEED = 2**63 - 1
