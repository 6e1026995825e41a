"""Built-in handlers. Each module registers itself through the ``register_handlers`` hook."""
