"""The repository as a workspace, shared by the pipeline's stages, the registry, the tools, the
benchmarks and the tests: where its files are (`layout`), its params.yaml sections (`params`),
commands that fail in one line (`commands`) and outputs written whole or not at all (`files`)."""
