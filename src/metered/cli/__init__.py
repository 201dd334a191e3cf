"""The `metered` command: serve, keys and accounts here; resource commands use metered.client."""
