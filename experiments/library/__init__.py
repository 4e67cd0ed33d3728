"""The experiment library: one small module per experiment."""
