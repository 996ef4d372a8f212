"""The model contract shared by the pipeline and the service: features, drift, artifacts."""
