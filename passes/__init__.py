"""pimc passes, one module per pass; the module name is the pass name in snake_case."""
