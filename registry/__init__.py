"""The MLflow model registry: each trained model's run and registered version, the gate that
names a better one `challenger`, promotion to `champion` (`versions`), and the registered model
itself, an MLflow pyfunc answering as the service does (`pyfunc`). The train stage, the card
stage and the tools call it; the service never imports it."""
