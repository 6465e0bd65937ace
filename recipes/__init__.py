"""Ready recurrent-network applications built on :mod:`custom_layers` (one module each)."""
