"""Model frontends: each turns an input file into nn-dialect IR."""
