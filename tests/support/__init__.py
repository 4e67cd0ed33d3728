"""Helpers shared by tests that are not tests themselves (e.g. a throwaway PostgreSQL server)."""
