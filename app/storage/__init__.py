"""Storage: the engine factory, units of work, secrets and schema migrations."""
