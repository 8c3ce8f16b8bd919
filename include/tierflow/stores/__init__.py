"""Connections to the tiers' stores: MySQL (warm), object store (archive), warehouse, Redis (hot)."""
