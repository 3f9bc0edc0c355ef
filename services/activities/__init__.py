"""Activities, initiatives and contributions of any kind: the context beyond the three routines."""
