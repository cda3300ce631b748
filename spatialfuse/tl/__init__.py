"""Tools (``sf.tl``): fusion, domain clustering and the one-call pipeline."""
