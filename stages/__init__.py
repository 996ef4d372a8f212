"""DVC pipeline stages: download -> clean -> featurize -> train -> evaluate."""
