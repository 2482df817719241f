"""The llm.yaml contract: the typed model (model.py), loading with positions (loader.py), and the
semantic rules that need the whole spec and the catalog (rules.py)."""
