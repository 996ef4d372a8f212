"""Blueprints, one per concern: meta (index, health, model), predict, docs."""
