"""What the console and the CLI ask of the domain: simulations, health, diagnostics, review outcomes, undo,
tenant erasure."""
