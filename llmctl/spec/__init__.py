"""The llm.yaml contract: the typed model (model.py), loading with positions (loader.py, with
bounded_yaml.py for YAML within limits), inline secrets (secrets.py) and the file's text and
positions (source.py). The semantic rules that need the whole spec and the catalog live in
llmctl.compile."""
