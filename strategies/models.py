# Strategies are code (see strategies/registry.py); they own no tables.
